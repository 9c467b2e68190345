# Makes the imported MLIR/LLVM targets link their static archives, so libflashjit carries LLVM and MLIR
# inside it and runs on machines that have no LLVM installed.
#
# Debian builds LLVM with LLVM_LINK_LLVM_DYLIB, so every exported MLIR target names the shared `LLVM`
# library in its link interface, and LLVMSupport names the shared zstd and z3 libraries. We replace `LLVM`
# with the static component archives the compiler needs, zstd with libzstd.a, zlib with libz.a, and drop z3
# (only LLVM's SMT solver uses it, and nothing in flashjit reaches that code).

set(FLASHJIT_LLVM_COMPONENTS
  Core Support TargetParser Demangle BinaryFormat Remarks
  Analysis TransformUtils ScalarOpts InstCombine IPO Passes Target MC
  BitReader BitWriter IRReader AsmParser Linker FrontendOpenMP FrontendOffloading
  NVPTXCodeGen NVPTXDesc NVPTXInfo
)
llvm_map_components_to_libnames(flashjit_llvm_static_libs ${FLASHJIT_LLVM_COMPONENTS})

find_library(FLASHJIT_ZSTD_STATIC libzstd.a REQUIRED)
find_library(FLASHJIT_ZLIB_STATIC libz.a REQUIRED)

# Rewrites one imported target's link interface.
function(flashjit_make_static target)
  get_target_property(deps ${target} INTERFACE_LINK_LIBRARIES)
  if(NOT deps)
    return()
  endif()
  set(new_deps)
  foreach(dep IN LISTS deps)
    if(dep STREQUAL "LLVM")
      list(APPEND new_deps ${flashjit_llvm_static_libs})
    elseif(dep MATCHES "zstd::libzstd_shared|zstd::libzstd_static")
      list(APPEND new_deps ${FLASHJIT_ZSTD_STATIC})
    elseif(dep STREQUAL "ZLIB::ZLIB")
      list(APPEND new_deps ${FLASHJIT_ZLIB_STATIC})
    elseif(dep MATCHES "libz3")
      # dropped: see above
    else()
      list(APPEND new_deps ${dep})
    endif()
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${new_deps}")
endfunction()

foreach(target IN LISTS MLIR_EXPORTED_TARGETS)
  if(TARGET ${target})
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "STATIC_LIBRARY")
      flashjit_make_static(${target})
    endif()
  endif()
endforeach()
# LLVM's component archives: LLVMSupport names the shared zstd and z3.
foreach(target IN LISTS LLVM_AVAILABLE_LIBS)
  if(TARGET ${target})
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "STATIC_LIBRARY")
      flashjit_make_static(${target})
    endif()
  endif()
endforeach()
