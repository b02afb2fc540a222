# install.cmake - the install/consumer test: installs this build into a temporary prefix,
# builds tests/consumer with find_package(Verdant) and with pkg-config, and runs it.
# Included from tests/CMakeLists.txt. Needs no OpenCL device.
find_program(VD_BASH bash)
if(VD_BASH)
  add_test(NAME install_consumer
    COMMAND "${VD_BASH}" "${CMAKE_CURRENT_LIST_DIR}/consumer/run_consumer_test.sh"
            "${PROJECT_BINARY_DIR}" "${CMAKE_COMMAND}" "${CMAKE_C_COMPILER}" "$<CONFIG>")
  set_tests_properties(install_consumer PROPERTIES
    TIMEOUT 300
    LABELS "install")
endif()
