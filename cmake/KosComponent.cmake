# kos_component(NAME <name> [DEPS <component>...] [LIBS <target>...])
#
# Builds src/<name>/*.cc (without *_test.cc / *_benchmark.cc) as the object
# library kos_<name>. DEPS names other components whose objects a consumer of
# this component also needs; LIBS are third-party link targets.
set_property(GLOBAL PROPERTY KOS_COMPONENTS "")

function(kos_component)
  cmake_parse_arguments(K "" "NAME" "DEPS;LIBS" ${ARGN})
  set(dir ${PROJECT_SOURCE_DIR}/src/${K_NAME})
  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_(test|benchmark)\\.cc$")
  add_library(kos_${K_NAME} OBJECT ${srcs})
  target_include_directories(kos_${K_NAME}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(kos_${K_NAME} PRIVATE KOS_BUILDING_LIBRARY)
  target_compile_options(kos_${K_NAME} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  set(libs ${KOS_ABSL_LIBS} nlohmann_json::nlohmann_json Threads::Threads ${K_LIBS})
  foreach(d ${K_DEPS})
    list(APPEND libs kos_${d})
  endforeach()
  target_link_libraries(kos_${K_NAME} PUBLIC ${libs})
  set_property(TARGET kos_${K_NAME} PROPERTY KOS_DEPS "${K_DEPS}")
  set_property(GLOBAL APPEND PROPERTY KOS_COMPONENTS ${K_NAME})
  set_property(GLOBAL APPEND PROPERTY KOS_THIRD_PARTY_LIBS ${K_LIBS})
endfunction()

# Creates kos_shared (libkos.so) and kos_static (libkos.a) from every component.
function(kos_assemble_library)
  get_property(comps GLOBAL PROPERTY KOS_COMPONENTS)
  get_property(third GLOBAL PROPERTY KOS_THIRD_PARTY_LIBS)
  if(third)
    list(REMOVE_DUPLICATES third)
  endif()
  set(objs "")
  foreach(c ${comps})
    list(APPEND objs $<TARGET_OBJECTS:kos_${c}>)
  endforeach()
  set(iface ${KOS_ABSL_LIBS} nlohmann_json::nlohmann_json Threads::Threads)
  add_library(kos_shared SHARED ${objs})
  add_library(kos_static STATIC ${objs})
  foreach(t kos_shared kos_static)
    set_target_properties(${t} PROPERTIES OUTPUT_NAME kos)
    target_include_directories(${t} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  endforeach()
  set_target_properties(kos_shared PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
  target_link_libraries(kos_shared PUBLIC ${iface} PRIVATE ${third})
  target_link_libraries(kos_static PUBLIC ${iface} ${third})
  add_library(kos::kos ALIAS kos_shared)
  add_library(kos::kos_static ALIAS kos_static)
  set(KOS_ALL_COMPONENTS ${comps} PARENT_SCOPE)
endfunction()

# Collects the component targets a test needs, following DEPS transitively:
# object libraries do not propagate their objects through other object libraries.
function(kos_collect_components out)
  set(todo ${ARGN})
  set(seen "")
  while(todo)
    list(POP_FRONT todo c)
    if(NOT c IN_LIST seen)
      list(APPEND seen ${c})
      get_property(d TARGET kos_${c} PROPERTY KOS_DEPS)
      list(APPEND todo ${d})
    endif()
  endwhile()
  set(targets "")
  foreach(c ${seen})
    list(APPEND targets kos_${c})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# Links `target` with the objects of the named components (and their DEPS) and
# with their third-party libraries. Used by tests, benchmarks and servers so a
# target builds only what it uses.
function(kos_link_components target)
  kos_collect_components(comps ${ARGN})
  target_link_libraries(${target} PRIVATE ${comps})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  foreach(c ${comps})
    get_target_property(l ${c} LINK_LIBRARIES)
    target_link_libraries(${target} PRIVATE ${l})
  endforeach()
endfunction()
