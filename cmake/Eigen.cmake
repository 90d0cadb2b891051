# Eigen 3.4 headers come from the cmeel-eigen wheel (a build requirement); its CMake config lives
# under the cmeel prefix of the build environment. A system Eigen is used only if that is absent.
execute_process(
  COMMAND "${Python_EXECUTABLE}" -m cmeel cmake
  OUTPUT_VARIABLE _pympas_cmeel_prefix
  OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET
  RESULT_VARIABLE _pympas_cmeel_rc)
if(_pympas_cmeel_rc EQUAL 0 AND _pympas_cmeel_prefix)
  list(APPEND CMAKE_PREFIX_PATH "${_pympas_cmeel_prefix}")
endif()
find_package(Eigen3 3.4 CONFIG REQUIRED)
