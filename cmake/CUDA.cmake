# Decides whether pympas._cuda is built (see PYMPAS_CUDA in CMakeLists.txt).
include(CheckLanguage)
string(TOUPPER "${PYMPAS_CUDA}" _pympas_cuda_mode)
if(_pympas_cuda_mode STREQUAL "OFF")
  message(STATUS "pympas: CUDA extension disabled (PYMPAS_CUDA=OFF)")
  return()
endif()
if(NOT CMAKE_CUDA_COMPILER AND EXISTS "/usr/local/cuda/bin/nvcc")
  set(CMAKE_CUDA_COMPILER "/usr/local/cuda/bin/nvcc")
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(_pympas_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "pympas: PYMPAS_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
  message(STATUS "pympas: no CUDA toolkit found; building without pympas._cuda")
  return()
endif()
message(STATUS "pympas: CUDA toolkit found at ${CMAKE_CUDA_COMPILER}; building pympas._cuda")
# The CUDA module itself is defined by the CUDA backend (issue 3).

# A100 (sm_80) and H100/H200 (sm_90) machine code, plus PTX for later GPUs (JIT-compiled).
# Set before enable_language(), which would otherwise pick the compiler's default.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES "80-real;90-real;90-virtual")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
message(STATUS "pympas: CUDA architectures ${CMAKE_CUDA_ARCHITECTURES}")
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)

# pympas._cuda: kernels on raw device pointers and the caller's stream (no PyTorch C++ API).
pybind11_add_module(_cuda MODULE
  csrc/cuda_module.cpp
  csrc/cuda/device_cuda.cu
  csrc/cuda/knn_cuda.cu
  csrc/cuda/collectiveness_cuda.cu
  csrc/cuda/rasterize_cuda.cu
)
target_include_directories(_cuda PRIVATE csrc)
# Static cudart: importing the module needs no driver; a missing driver shows up as a
# RuntimeError at the first kernel call.
set_target_properties(_cuda PROPERTIES CUDA_RUNTIME_LIBRARY Static)
target_link_libraries(_cuda PRIVATE CUDA::cudart_static)
# Bit-exact agreement with the CPU kernels (distance ties, disc tests): no FMA contraction, IEEE
# division and square root.
target_compile_options(_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-O3 -fmad=false -prec-div=true -prec-sqrt=true>
  $<$<COMPILE_LANGUAGE:CXX>:-O3 -Wall -Wextra>)
install(TARGETS _cuda LIBRARY DESTINATION pympas)
