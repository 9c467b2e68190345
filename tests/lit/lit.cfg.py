# lit configuration for flashjit: FileCheck, not and count from llvm-22-tools, flashjit's tools from
# the build. Run through CTest, or directly:
#   lit -sv --param flashjit_site_config=build/tests/lit/lit.site.cfg.py tests/lit
import os

import lit.formats

config.name = "flashjit"
config.test_format = lit.formats.ShTest(not lit_config.isWindows)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "Inputs"]
config.test_source_root = os.path.dirname(__file__)

site_config = lit_config.params.get("flashjit_site_config")
if not site_config:
    lit_config.fatal("pass --param flashjit_site_config=<build>/tests/lit/lit.site.cfg.py")
exec(open(site_config).read())
config.test_exec_root = config.flashjit_obj_root

for tool in ["FileCheck", "not", "count", "split-file"]:
    path = os.path.join(config.llvm_tools_dir, tool)
    if not os.path.exists(path):
        lit_config.fatal("missing %s (install llvm-22-tools)" % path)
    config.substitutions.append((r"(?<![\w./-])%s(?![\w./-])" % tool, path))

config.environment["PATH"] = os.pathsep.join(
    [config.flashjit_tools_dir, config.environment.get("PATH", os.environ.get("PATH", ""))])
# Keep the tests deterministic: no colour, no user cache.
config.environment["FLASHJIT_CACHE"] = "0"

# ptxas (CUDA toolkit) assembles the PTX of the lowering's tests where the toolkit is installed.
ptxas = os.path.join(getattr(config, "cuda_home", ""), "bin", "ptxas")
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append((r"(?<![\w./-])ptxas(?![\w./-])", ptxas))
