# Helpers shared by the project's CMakeLists.

# Gives `target` the LLVM/MLIR headers, definitions and the monolithic shared libraries. Only
# compiler-side targets call this; the runtime never does (tests/check_runtime_deps.sh checks it).
function(aprc_use_mlir target)
  target_include_directories(${target} SYSTEM PUBLIC ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
  target_compile_options(${target} PUBLIC ${APRC_LLVM_DEFS})
  target_link_libraries(${target} PUBLIC MLIR LLVM)
endfunction()

# A GoogleTest executable registered with CTest; the fixtures path reaches it as APRC_FIXTURES.
function(aprc_add_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest_main)
  gtest_discover_tests(${name}
    PROPERTIES ENVIRONMENT "APRC_FIXTURES=${APRC_FIXTURES_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
