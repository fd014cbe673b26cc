// RUN: not %moe-codegen compile --dtype nope 2>&1 | FileCheck %s

// Negative (CLI): an unknown --dtype is a one-line error naming the value and the choices, with no usage dump, no traceback and nothing compiled.

// CHECK: moe-codegen compile: error: argument --dtype: invalid choice: 'nope' (choose from {{.*}}int4_fp8{{.*}})
// CHECK-NOT: {{.}}
