include(CMakePackageConfigHelpers)

install(DIRECTORY include/kos DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS kos_shared kos_static EXPORT kosTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set_target_properties(kos_shared PROPERTIES EXPORT_NAME kos)
set_target_properties(kos_static PROPERTIES EXPORT_NAME kos_static)
install(EXPORT kosTargets NAMESPACE kos:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kos)

configure_package_config_file(cmake/kosConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/kosConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kos)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/kosConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/kosConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/kosConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kos)

file(RELATIVE_PATH KOS_PC_RELATIVE_PREFIX
  "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" KOS_PC_RELATIVE_PREFIX "${KOS_PC_RELATIVE_PREFIX}")
configure_file(cmake/kos.pc.in ${CMAKE_CURRENT_BINARY_DIR}/kos.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/kos.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
