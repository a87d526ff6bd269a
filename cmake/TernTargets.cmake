# Warnings are errors on our own code; generated code is compiled without them.
function(tern_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # At -O2, GCC 12 sees asio's coroutine-frame operator new inlined down to aligned_alloc
    # and warns that the frame's class operator delete does not match it. It does: asio
    # frees those frames with its aligned_delete. A false positive in every awaitable.
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
endfunction()

# tern_library(NAME SRCS ... DEPS ...): a service library linked by main.cc and tests.
function(tern_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  tern_warnings(${name})
endfunction()

function(tern_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  tern_warnings(${name})
endfunction()
