# FindAsio.cmake -- locate standalone (non-Boost) Asio.
#
# Asio is header-only and Debian's libasio-dev ships no CMake package, so this
# module searches for <asio.hpp> and defines:
#
#   Asio::Asio          IMPORTED INTERFACE target: include dir, ASIO_STANDALONE,
#                       ASIO_NO_DEPRECATED and Threads::Threads.
#   Asio_FOUND          TRUE when asio.hpp was found.
#   Asio_INCLUDE_DIR    directory containing asio.hpp (cache variable; set it,
#                       or ASIO_ROOT / Asio_ROOT, to use a non-system copy).
#   Asio_VERSION        e.g. 1.22.1, parsed from asio/version.hpp.
#
# This file is installed next to asio-mqttConfig.cmake so that consumers of an
# installed asio-mqtt resolve Asio::Asio the same way.

include(FindPackageHandleStandardArgs)

find_path(Asio_INCLUDE_DIR
  NAMES asio.hpp
  HINTS ${ASIO_ROOT} ENV ASIO_ROOT
  PATH_SUFFIXES include asio/include
  DOC "Directory containing standalone asio.hpp")
mark_as_advanced(Asio_INCLUDE_DIR)

if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
       REGEX "^#define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
  string(REGEX REPLACE "^#define[ \t]+ASIO_VERSION[ \t]+([0-9]+).*" "\\1"
         _asio_version_num "${_asio_version_line}")
  if(_asio_version_num MATCHES "^[0-9]+$")
    # ASIO_VERSION is XXYYZZ: major * 100000 + minor * 100 + patch.
    math(EXPR _asio_major "${_asio_version_num} / 100000")
    math(EXPR _asio_minor "${_asio_version_num} / 100 % 1000")
    math(EXPR _asio_patch "${_asio_version_num} % 100")
    set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
  endif()
  unset(_asio_version_line)
  unset(_asio_version_num)
  unset(_asio_major)
  unset(_asio_minor)
  unset(_asio_patch)
endif()

find_package_handle_standard_args(Asio
  REQUIRED_VARS Asio_INCLUDE_DIR
  VERSION_VAR Asio_VERSION)

if(Asio_FOUND AND NOT TARGET Asio::Asio)
  if(NOT TARGET Threads::Threads)
    set(THREADS_PREFER_PTHREAD_FLAG ON)
    if(Asio_FIND_QUIETLY)
      find_package(Threads QUIET)
    else()
      find_package(Threads)
    endif()
  endif()
  if(NOT TARGET Threads::Threads)
    set(Asio_FOUND FALSE)
    if(Asio_FIND_REQUIRED)
      message(FATAL_ERROR "Asio requires a threads library (Threads::Threads not found)")
    endif()
    return()
  endif()
  add_library(Asio::Asio INTERFACE IMPORTED)
  set_target_properties(Asio::Asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED"
    INTERFACE_LINK_LIBRARIES "Threads::Threads")
endif()
