/* The C ABI compiles as C and reports errors as status codes with messages. Without a GPU, creating a kernel
 * reports FLASHJIT_NO_DEVICE; with one, it succeeds. Exit code 0 means every check held. */
#include "runtime/flashjit_c.h"

#include <stdio.h>
#include <string.h>

static int failures = 0;

static void expect(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAILED: %s (last error: %s)\n", what, flashjit_last_error());
    failures++;
  }
}

int main(void) {
  expect(strcmp(flashjit_version(), "0.1.0") == 0, "version");

  flashjit_spec spec = {64, FLASHJIT_BF16, FLASHJIT_CAUSAL_BOTTOM_RIGHT, 1};
  flashjit_args args;
  memset(&args, 0, sizeof args);
  expect(flashjit_validate_args(&spec, &args) == FLASHJIT_INVALID_ARGUMENT, "null pointers are invalid");
  expect(strstr(flashjit_last_error(), "q is null") != NULL, "the message names q");
  expect(flashjit_attention(&spec, &args, NULL) == FLASHJIT_INVALID_ARGUMENT, "attention checks args first");
  expect(strstr(flashjit_last_error(), "q is null") != NULL, "attention's message names q");

  flashjit_spec badSpec = {12, FLASHJIT_BF16, FLASHJIT_CAUSAL_NONE, 0};
  flashjit_config config = {64, 64, 4, 2, "sm_90"};
  flashjit_kernel *kernel = NULL;
  expect(flashjit_kernel_create(&badSpec, &config, &kernel) == FLASHJIT_UNSUPPORTED, "head_dim 12 unsupported");
  expect(strstr(flashjit_last_error(), "head_dim = 12") != NULL, "the message names head_dim");
  expect(kernel == NULL, "no kernel on failure");

  flashjit_status status = flashjit_kernel_create(&spec, &config, &kernel);
  if (status == FLASHJIT_OK) {
    printf("a GPU is present: kernel created\n");
    flashjit_kernel_destroy(kernel);
  } else {
    expect(status == FLASHJIT_NO_DEVICE, "without a GPU the status is FLASHJIT_NO_DEVICE");
    expect(strstr(flashjit_last_error(), "CUDA driver") != NULL, "the message names the CUDA driver");
  }
  expect(flashjit_kernel_launch(NULL, &args, NULL) == FLASHJIT_INVALID_ARGUMENT, "null kernel");

  printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
