/* flashjit's C ABI: the same kernels as the C++ API (flashjit.h), for ctypes, Rust, Julia and C. Every
 * call returns a flashjit_status; on failure, flashjit_last_error() gives the message (per thread). */
#ifndef FLASHJIT_C_H
#define FLASHJIT_C_H

#ifdef __cplusplus
extern "C" {
#endif

#define FLASHJIT_C_API __attribute__((visibility("default")))

typedef enum {
  FLASHJIT_OK = 0,
  FLASHJIT_INVALID_ARGUMENT = 1, /* null or misaligned pointer, bad stride, non-positive size */
  FLASHJIT_UNSUPPORTED = 2,      /* head dimension, configuration or grid size not supported */
  FLASHJIT_NO_DEVICE = 3,        /* no CUDA driver or no GPU */
  FLASHJIT_DRIVER_ERROR = 4,     /* the CUDA driver failed; the message has its log */
  FLASHJIT_INTERNAL = 5          /* a bug in flashjit */
} flashjit_status;

typedef enum { FLASHJIT_F16 = 0, FLASHJIT_BF16 = 1 } flashjit_dtype;
typedef enum { FLASHJIT_CAUSAL_NONE = 0, FLASHJIT_CAUSAL_TOP_LEFT = 1, FLASHJIT_CAUSAL_BOTTOM_RIGHT = 2 } flashjit_causal;

/* What a kernel is specialised for. */
typedef struct {
  int head_dim;
  flashjit_dtype dtype;
  flashjit_causal causal;
  int logsumexp; /* non-zero: also write the logsumexp of each query row */
} flashjit_spec;

/* How it is tiled; chip such as "sm_90". */
typedef struct {
  int block_m, block_n, warps, stages;
  const char *chip;
} flashjit_config;

/* One call's device pointers, sizes and (batch, head, row) element strides; see AttentionArgs. */
typedef struct {
  const void *q, *k, *v;
  void *o;
  float *lse;
  int batch, heads, kv_heads, seqlen_q, seqlen_k; /* kv_heads 0: same as heads */
  float softmax_scale;                            /* 0: 1/sqrt(head_dim) */
  long long q_strides[3], k_strides[3], v_strides[3], o_strides[3];
} flashjit_args;

typedef struct flashjit_kernel flashjit_kernel;

FLASHJIT_C_API const char *flashjit_version(void);

/* The message of this thread's last failed call ("" if none). */
FLASHJIT_C_API const char *flashjit_last_error(void);

/* Compiles the kernel (config NULL: the default configuration for device 0) and loads it into the
 * current CUDA context. */
FLASHJIT_C_API flashjit_status flashjit_kernel_create(const flashjit_spec *spec, const flashjit_config *config,
                                                      flashjit_kernel **kernel);

/* The one call, as flashjit::attention: the tuned configuration for the current GPU and shape (autotuned
 * on first use and kept; FLASHJIT_TUNE=0: the default one), kernel cache, launch on stream. */
FLASHJIT_C_API flashjit_status flashjit_attention(const flashjit_spec *spec, const flashjit_args *args, void *stream);

/* Checks args and launches on stream (a CUstream; NULL: the default stream). */
FLASHJIT_C_API flashjit_status flashjit_kernel_launch(const flashjit_kernel *kernel, const flashjit_args *args,
                                                      void *stream);

FLASHJIT_C_API void flashjit_kernel_destroy(flashjit_kernel *kernel);

/* Checks args for a kernel of spec without launching anything. */
FLASHJIT_C_API flashjit_status flashjit_validate_args(const flashjit_spec *spec, const flashjit_args *args);

#ifdef __cplusplus
}
#endif

#endif /* FLASHJIT_C_H */
