#!/usr/bin/env python3
"""GPU half of the products check: runs the tile kernels that make_kernels.sh compiled on random inputs,
outputs poisoned with NaN, and compares them with a float64 reference that rounds P and dS (Pᵀ and dSᵀ) to
the kernel's dtype as the kernel does:
- backward_products: the backward pass's five products over one block of M queries and N keys (dQ, dK, dV);
- streamed_products: the backward's main loop without its element-wise work, a thread block per N keys,
  Q and dO streamed in blocks of M (dK, dV, and dQ added atomically by every thread block into zeros).
Loads the PTX with the CUDA driver (ctypes) in torch's context and launches on torch's current stream.

    usage: check_products.py KERNEL_DIR REPORT.json [--seeds N] [--only NAME_PART]
Exit status 0 when every kernel passes: relative error (max |out - ref| / max |ref|, per tensor) below
1e-2 for bf16 and 2e-3 for f16, and no NaN.
"""
import argparse
import ctypes
import json
import os
import sys

import torch

TOLERANCE = {"bf16": 1e-2, "f16": 2e-3}
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}
CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8


class Driver:
    def __init__(self):
        self.cuda = ctypes.CDLL("libcuda.so.1")

    def check(self, result, what):
        if result != 0:
            name = ctypes.c_char_p()
            self.cuda.cuGetErrorName(result, ctypes.byref(name))
            raise RuntimeError(f"{what}: {name.value.decode() if name.value else result}")

    def load(self, ptx, entry, shared_bytes):
        module, function = ctypes.c_void_p(), ctypes.c_void_p()
        self.check(self.cuda.cuModuleLoadData(ctypes.byref(module), ctypes.c_char_p(ptx.encode() + b"\0")),
                   "cuModuleLoadData")
        self.check(self.cuda.cuModuleGetFunction(ctypes.byref(function), module, entry.encode()),
                   "cuModuleGetFunction")
        self.check(self.cuda.cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                ctypes.c_int(shared_bytes)), "cuFuncSetAttribute")
        return module, function

    def launch(self, function, blocks, threads, shared_bytes, tensors):
        pointers = [ctypes.c_uint64(t.data_ptr()) for t in tensors]
        parameters = (ctypes.c_void_p * len(pointers))(*[ctypes.addressof(p) for p in pointers])
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.check(self.cuda.cuLaunchKernel(function, blocks, 1, 1, threads, 1, 1, shared_bytes, stream, parameters,
                                            None), "cuLaunchKernel")


def reference(q, k, v, do, dtype):
    """dQ, dK, dV in float64 from the inputs as stored, with P and dS rounded to `dtype` as the kernel's are."""
    q, k, v, do = (t.double() for t in (q, k, v, do))
    p = (q @ k.T).to(dtype).double()
    ds = (do @ v.T).to(dtype).double()
    return ds @ k, ds.T @ q, p.T @ do


def streamed_reference(q, k, v, do, dtype):
    """dQ, dK, dV in float64: Pᵀ = K·Qᵀ and dSᵀ = V·dOᵀ rounded to `dtype` element by element, as the kernel's."""
    q, k, v, do = (t.double() for t in (q, k, v, do))
    pt = (k @ q.T).to(dtype).double()
    dst = (v @ do.T).to(dtype).double()
    return dst.T @ k, dst @ q, pt @ do


def relative_error(out, ref):
    if torch.isnan(out).any():
        return float("nan")
    return ((out.double() - ref).abs().max() / ref.abs().max()).item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kernels")
    parser.add_argument("report")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", default="", help="run only the kernels whose name contains this")
    args = parser.parse_args()
    torch.zeros(1, device="cuda")  # torch's context is current: the driver loads modules into it
    driver = Driver()
    with open(os.path.join(args.kernels, "manifest.json")) as f:
        kernels = [kernel for kernel in json.load(f) if args.only in kernel["name"]]
    results, failures = [], 0
    for kernel in kernels:
        with open(os.path.join(args.kernels, kernel["name"] + ".ptx")) as f:
            ptx = f.read()
        streamed = kernel["kernel"] == "streamed_products"
        _, function = driver.load(ptx, kernel["kernel"], kernel["shared_bytes"])
        dtype, m, n, d = DTYPES[kernel["dtype"]], kernel["m"], kernel["n"], kernel["head_dim"]
        queries, keys = (kernel["queries"], kernel["keys"]) if streamed else (m, n)
        names = ("dq", "dk", "dv")
        for seed in range(args.seeds):
            generator = torch.Generator(device="cuda").manual_seed(seed)
            q, k, v, do = (torch.randn(rows, d, device="cuda", generator=generator).to(dtype)
                           for rows in (queries, keys, keys, queries))
            # Poisoned, but for the streamed kernel's dQ, into which every thread block adds (it starts at 0).
            outputs = [torch.full((queries if name == "dq" else keys, d),
                                  0.0 if streamed and name == "dq" else float("nan"), device="cuda") for name in names]
            driver.launch(function, kernel["blocks"], kernel["threads"], kernel["shared_bytes"], [q, k, v, do, *outputs])
            torch.cuda.synchronize()
            expected = (streamed_reference if streamed else reference)(q, k, v, do, dtype)
            errors = {name: relative_error(out, ref) for name, out, ref in zip(names, outputs, expected)}
            passed = all(e == e and e < TOLERANCE[kernel["dtype"]] for e in errors.values())
            failures += not passed
            results.append({**kernel, "seed": seed, "relative_error": errors, "passed": passed})
            print(f"{'pass' if passed else 'FAIL'} {kernel['name']} seed {seed}: "
                  + ", ".join(f"{n} {e:.2e}" for n, e in errors.items()), flush=True)
    with open(args.report, "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "checks": len(results),
                   "failures": failures, "results": results}, f, indent=1)
    print(f"{len(results) - failures}/{len(results)} passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
