# backtest_link_static(TARGET SOURCES... LIBS project_static_libs...)
#
# Builds executable TARGET from SOURCES and links it against the static archives of abseil,
# protobuf, libcrypto, zlib and libstdc++ instead of their shared libraries. A process that starts
# per job (backtest-runner) or per command (backtest-engine-cli) otherwise spends ~8 ms of CPU in
# the dynamic loader resolving ~8,600 symbols of 34 shared libraries before main(); linked this way
# it starts in ~2 ms (docs/benchmarks.md). Only libc and libm stay shared, so dlopen (libcurl, on
# the first http(s) fetch) still works.
#
# SOURCES are compiled with the usual usage requirements of LIBS (include directories,
# definitions), but the executable links LIBS by archive file, not by target, so that their
# shared-library interface dependencies stay out of the link. When an archive is missing, TARGET
# is linked the usual, shared way.
set(_backtest_archive_dir /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
find_file(BACKTEST_PROTOBUF_ARCHIVE libprotobuf.a PATHS ${_backtest_archive_dir} NO_DEFAULT_PATH)
find_file(BACKTEST_CRYPTO_ARCHIVE libcrypto.a PATHS ${_backtest_archive_dir} NO_DEFAULT_PATH)
find_file(BACKTEST_Z_ARCHIVE libz.a PATHS ${_backtest_archive_dir} NO_DEFAULT_PATH)
file(GLOB BACKTEST_ABSL_ARCHIVES ${_backtest_archive_dir}/libabsl_*.a)
option(BACKTEST_STATIC_DEPS "link the runner and the engine CLI against static archives" ON)

function(backtest_link_static target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${target}_objects OBJECT ${ARG_SOURCES})
  target_link_libraries(${target}_objects PRIVATE ${ARG_LIBS})
  target_include_directories(${target}_objects PRIVATE ${PROJECT_SOURCE_DIR})
  add_executable(${target} $<TARGET_OBJECTS:${target}_objects>)
  if(BACKTEST_STATIC_DEPS AND BACKTEST_PROTOBUF_ARCHIVE AND BACKTEST_CRYPTO_ARCHIVE
     AND BACKTEST_Z_ARCHIVE AND BACKTEST_ABSL_ARCHIVES)
    set(archives)
    foreach(lib IN LISTS ARG_LIBS)
      if(TARGET ${lib})
        get_target_property(type ${lib} TYPE)
        if(type STREQUAL "STATIC_LIBRARY")
          list(APPEND archives $<TARGET_FILE:${lib}>)
          add_dependencies(${target} ${lib})
        endif()
      endif()
    endforeach()
    # The abseil archives depend on each other in no fixed order: one group, searched until no
    # symbol is left undefined (only the members used are linked).
    target_link_libraries(${target} PRIVATE ${archives} ${BACKTEST_PROTOBUF_ARCHIVE}
      -Wl,--start-group ${BACKTEST_ABSL_ARCHIVES} -Wl,--end-group
      ${BACKTEST_CRYPTO_ARCHIVE} ${BACKTEST_Z_ARCHIVE} Threads::Threads ${CMAKE_DL_LIBS})
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  else()
    message(STATUS "${target}: static archives not found, linking shared libraries")
    target_link_libraries(${target} PRIVATE ${ARG_LIBS})
    target_link_options(${target} PRIVATE -Wl,--as-needed)
  endif()
endfunction()
