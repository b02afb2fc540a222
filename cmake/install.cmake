# install.cmake - install rules and package files for Verdant.
# Included at the end of the top-level CMakeLists.txt. Installs:
#   include/verdant.h
#   lib/libverdant.so* (target verdant) and lib/libverdant.a (target verdant_static)
#   lib/pkgconfig/verdant.pc                      pkg-config --cflags --libs verdant
#   lib/cmake/Verdant/VerdantConfig.cmake etc.     find_package(Verdant) -> Verdant::verdant,
#                                                  Verdant::verdant_static
# The package is relocatable: `cmake --install build --prefix /any/where` gives a tree
# whose pkg-config and CMake files find their own prefix.
include(CMakePackageConfigHelpers)

set(VD_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/Verdant"
    CACHE STRING "Where to install VerdantConfig.cmake (relative to the prefix)")
mark_as_advanced(VD_INSTALL_CMAKEDIR)

# The shared and static libraries are made from $<TARGET_OBJECTS:verdant_obj>, so the
# object library itself is not part of their link interface and need not be exported.
# Should it ever be linked (target_link_libraries(verdant_static PRIVATE verdant_obj)),
# install(EXPORT) requires it in the same export set; add it then (CMake >= 3.14).
set(VD_EXPORT_TARGETS verdant verdant_static)
foreach(t verdant verdant_static)
  get_target_property(_vd_links ${t} LINK_LIBRARIES)
  if(_vd_links AND "verdant_obj" IN_LIST _vd_links)
    list(APPEND VD_EXPORT_TARGETS verdant_obj)
    break()
  endif()
endforeach()
unset(_vd_links)

set_target_properties(verdant PROPERTIES EXPORT_NAME verdant)
set_target_properties(verdant_static PROPERTIES EXPORT_NAME verdant_static)

install(TARGETS ${VD_EXPORT_TARGETS}
  EXPORT VerdantTargets
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
          NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  OBJECTS DESTINATION "${CMAKE_INSTALL_LIBDIR}/verdant-objects")

install(FILES "${PROJECT_SOURCE_DIR}/include/verdant.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(EXPORT VerdantTargets
  NAMESPACE Verdant::
  FILE VerdantTargets.cmake
  DESTINATION "${VD_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/VerdantConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/VerdantConfig.cmake"
  INSTALL_DESTINATION "${VD_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/VerdantConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/VerdantConfig.cmake"
  "${PROJECT_BINARY_DIR}/VerdantConfigVersion.cmake"
  DESTINATION "${VD_INSTALL_CMAKEDIR}")

# pkg-config: prefix is computed from the .pc file's own location (${pcfiledir}) so that
# an install with --prefix or DESTDIR still points at itself. An absolute LIBDIR/INCLUDEDIR
# (as some distributions pass) is written as is.
set(VD_PC_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${VD_PC_INSTALL_DIR}")
  set(VD_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _vd_up "/vd_root/${VD_PC_INSTALL_DIR}" "/vd_root")
  string(REGEX REPLACE "/$" "" _vd_up "${_vd_up}")
  set(VD_PC_PREFIX "\${pcfiledir}/${_vd_up}")
  unset(_vd_up)
endif()
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(VD_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(VD_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
configure_file("${CMAKE_CURRENT_LIST_DIR}/verdant.pc.in" "${PROJECT_BINARY_DIR}/verdant.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/verdant.pc" DESTINATION "${VD_PC_INSTALL_DIR}")
