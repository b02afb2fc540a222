# onnx.cmake - the ONNX protobuf schema, compiled to C at build time.
# onnx.proto comes from Debian's libonnx-dev (/usr/include/onnx/onnx.proto); protoc-c
# (protobuf-c-compiler) turns it into onnx.pb-c.c/.h in the build tree, and libprotobuf-c
# (libprotobuf-c-dev) parses and writes the messages. No hand-written protobuf reader and
# nothing generated is committed. Sets VD_HAVE_ONNX, VD_ONNX_PB_SOURCES, VD_ONNX_PB_INCLUDE,
# VD_PROTOBUFC_LIB.
set(VD_HAVE_ONNX 0)
set(VD_ONNX_PB_SOURCES "")
option(VD_WITH_ONNX "ONNX import/export (needs libonnx-dev, protobuf-c-compiler, libprotobuf-c-dev)" ON)
if(NOT VD_WITH_ONNX)
  return()
endif()
find_program(VD_PROTOC_C protoc-c)
find_file(VD_ONNX_PROTO onnx.proto PATHS /usr/include/onnx /usr/local/include/onnx NO_DEFAULT_PATH)
find_library(VD_PROTOBUFC_LIB protobuf-c)
find_path(VD_PROTOBUFC_INCLUDE protobuf-c/protobuf-c.h)
if(NOT VD_PROTOC_C OR NOT VD_ONNX_PROTO OR NOT VD_PROTOBUFC_LIB OR NOT VD_PROTOBUFC_INCLUDE)
  message(STATUS "ONNX disabled: need protoc-c (${VD_PROTOC_C}), onnx.proto (${VD_ONNX_PROTO}), "
                 "libprotobuf-c (${VD_PROTOBUFC_LIB}): apt install protobuf-c-compiler libonnx-dev libprotobuf-c-dev")
  return()
endif()
get_filename_component(_vd_proto_dir "${VD_ONNX_PROTO}" DIRECTORY)
set(VD_ONNX_PB_INCLUDE "${CMAKE_CURRENT_BINARY_DIR}/onnx_pb")
file(MAKE_DIRECTORY "${VD_ONNX_PB_INCLUDE}")
set(VD_ONNX_PB_SOURCES "${VD_ONNX_PB_INCLUDE}/onnx.pb-c.c")
add_custom_command(
  OUTPUT "${VD_ONNX_PB_INCLUDE}/onnx.pb-c.c" "${VD_ONNX_PB_INCLUDE}/onnx.pb-c.h"
  COMMAND "${VD_PROTOC_C}" "--c_out=${VD_ONNX_PB_INCLUDE}" "-I${_vd_proto_dir}" "${VD_ONNX_PROTO}"
  DEPENDS "${VD_ONNX_PROTO}"
  COMMENT "Generating the ONNX protobuf-c code from ${VD_ONNX_PROTO}"
  VERBATIM)
set(VD_HAVE_ONNX 1)
unset(_vd_proto_dir)
