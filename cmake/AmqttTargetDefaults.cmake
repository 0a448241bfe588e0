# amqtt_target_defaults(<target>)
#
# Applies asio-mqtt's own build policy (warnings, -Werror, sanitizers) to one of
# OUR targets: tests, examples, benchmarks, fuzzers, the header check.  It is
# never applied to asio-mqtt / asio-mqtt-tls themselves, so nothing here leaks
# into a consumer's targets.
#
# Controlled by the cache variables defined in the top-level CMakeLists.txt:
#   AMQTT_WARNINGS_AS_ERRORS  ON -> add -Werror
#   AMQTT_SANITIZE            ""  | "address,undefined" | "thread" (any list
#                             accepted by -fsanitize= works)

include_guard(GLOBAL)

function(amqtt_target_defaults target)
  if(NOT TARGET ${target})
    message(FATAL_ERROR "amqtt_target_defaults: '${target}' is not a target")
  endif()

  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    set(_scope INTERFACE)
  else()
    set(_scope PRIVATE)
  endif()

  target_compile_features(${target} ${_scope} cxx_std_17)
  if(NOT _type STREQUAL "INTERFACE_LIBRARY")
    set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  endif()

  if(MSVC)
    target_compile_options(${target} ${_scope} /W4 /permissive-)
    if(AMQTT_WARNINGS_AS_ERRORS)
      target_compile_options(${target} ${_scope} /WX)
    endif()
  else()
    target_compile_options(${target} ${_scope} -Wall -Wextra -Wpedantic)
    if(AMQTT_WARNINGS_AS_ERRORS)
      target_compile_options(${target} ${_scope} -Werror)
      # GCC >= 11's flow-sensitive buffer warnings give well-known false
      # positives inside libstdc++ (e.g. std::vector::insert at -O2, GCC bugs
      # 105545/107852), and -Wmismatched-new-delete fires on replacement
      # operator new/delete built on malloc/free (allocation-counting tests):
      # keep them visible, but not fatal.  ASan covers the real thing.
      if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
         AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 11)
        target_compile_options(${target} ${_scope}
          -Wno-error=array-bounds
          -Wno-error=stringop-overflow
          -Wno-error=stringop-overread
          -Wno-error=restrict
          -Wno-error=mismatched-new-delete)
      endif()
    endif()
  endif()

  if(AMQTT_SANITIZE)
    if(MSVC)
      message(FATAL_ERROR "AMQTT_SANITIZE is only supported with GCC/Clang")
    endif()
    set(_san_flags
      -fsanitize=${AMQTT_SANITIZE}
      -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
    target_compile_options(${target} ${_scope} ${_san_flags})
    target_link_options(${target} ${_scope} ${_san_flags})
  endif()
endfunction()
