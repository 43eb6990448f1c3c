# contrib/install.cmake — where `cmake --install` and `cpack -G DEB` put things,
# laid out the way Debian lays out a daemon:
#
#   sbin/udsrpcd                          the daemon (not for users' PATH)
#   bin/udsrpcctl, bin/udsrpc-bench       the clients (when they are built)
#   share/man/man8/udsrpcd.8.gz, man1/    man pages, gzip -9n like dh_compress
#   /lib/systemd/system/udsrpcd.{service,socket}   (PREFIX/lib/systemd/system
#                                         unless PREFIX is /usr)
#   share/bash-completion/completions/udsrpcctl
#   share/udsrpc/*.json                   the OpenRPC document and file schemas
#   share/doc/udsrpc/                     README, copyright, examples/
#
# Nothing goes to /etc: without a config file the embedded defaults apply, so
# the package ships no conffiles. The example config and policy live under
# share/doc/udsrpc/examples for the administrator to copy. DESTDIR is
# honoured throughout.
include(GNUInstallDirs)

set(UDSRPC_CONTRIB ${PROJECT_SOURCE_DIR}/contrib)
set(UDSRPC_SYSTEMD_UNITDIR "" CACHE STRING
    "Where to install the systemd units (empty: /lib/systemd/system for prefix /usr, else PREFIX/lib/systemd/system)")

# --- programs -------------------------------------------------------------
install(TARGETS udsrpcd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
foreach(prog udsrpcctl udsrpc-bench)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

# --- man pages, compressed at build time ------------------------------------
set(UDSRPC_MAN_PAGES man/udsrpcd.8)
if(TARGET udsrpcctl)
  list(APPEND UDSRPC_MAN_PAGES man/udsrpcctl.1)
endif()
if(TARGET udsrpc-bench)
  list(APPEND UDSRPC_MAN_PAGES man/udsrpc-bench.1)
endif()
find_program(UDSRPC_GZIP gzip)
set(UDSRPC_MAN_OUTPUTS)
foreach(page ${UDSRPC_MAN_PAGES})
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${name})
  set(src ${UDSRPC_CONTRIB}/${page})
  if(UDSRPC_GZIP)
    set(out ${CMAKE_BINARY_DIR}/contrib/man/${name}.gz)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DGZIP=${UDSRPC_GZIP} -DIN=${src} -DOUT=${out}
              -P ${UDSRPC_CONTRIB}/gzip.cmake
      DEPENDS ${src} ${UDSRPC_CONTRIB}/gzip.cmake
      COMMENT "Compressing ${name}")
    list(APPEND UDSRPC_MAN_OUTPUTS ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  else()
    install(FILES ${src} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endif()
endforeach()
if(UDSRPC_MAN_OUTPUTS)
  add_custom_target(udsrpc_man ALL DEPENDS ${UDSRPC_MAN_OUTPUTS})
endif()

# --- systemd units ----------------------------------------------------------
# Decided at install time, not configure time, so that `cmake --install
# --prefix P` and cpack (which installs with prefix /usr) both get an
# ExecStart= that names the binary they actually installed.
set(UDSRPC_UNITS_CODE [[
  set(_unitdir "@UDSRPC_SYSTEMD_UNITDIR@")
  if(NOT _unitdir)
    if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
      set(_unitdir "/lib/systemd/system")
    else()
      set(_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
    endif()
  elseif(NOT IS_ABSOLUTE "${_unitdir}")
    set(_unitdir "${CMAKE_INSTALL_PREFIX}/${_unitdir}")
  endif()
  set(_sbindir "@CMAKE_INSTALL_SBINDIR@")
  if(NOT IS_ABSOLUTE "${_sbindir}")
    set(_sbindir "${CMAKE_INSTALL_PREFIX}/${_sbindir}")
  endif()
  file(READ "@UDSRPC_CONTRIB@/systemd/udsrpcd.service" _unit)
  string(REPLACE "ExecStart=/usr/sbin/udsrpcd " "ExecStart=${_sbindir}/udsrpcd " _unit "${_unit}")
  file(WRITE "@CMAKE_BINARY_DIR@/contrib/systemd/udsrpcd.service" "${_unit}")
  file(INSTALL DESTINATION "${_unitdir}" TYPE FILE FILES
       "@CMAKE_BINARY_DIR@/contrib/systemd/udsrpcd.service"
       "@UDSRPC_CONTRIB@/systemd/udsrpcd.socket")
]])
string(CONFIGURE "${UDSRPC_UNITS_CODE}" UDSRPC_UNITS_CODE @ONLY)
install(CODE "${UDSRPC_UNITS_CODE}")

# --- bash completion (written with udsrpcctl) -------------------------------
if(TARGET udsrpcctl AND EXISTS ${UDSRPC_CONTRIB}/bash-completion/udsrpcctl)
  install(FILES ${UDSRPC_CONTRIB}/bash-completion/udsrpcctl
          DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
endif()

# --- the contract, for programs and editors ---------------------------------
install(FILES
  ${PROJECT_SOURCE_DIR}/schema/udsrpc.openrpc.json
  ${PROJECT_SOURCE_DIR}/schema/config.schema.json
  ${PROJECT_SOURCE_DIR}/schema/policy.schema.json
  DESTINATION ${CMAKE_INSTALL_DATADIR}/udsrpc)

# --- documentation and examples ---------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright)
install(FILES
  ${UDSRPC_CONTRIB}/examples/README.md
  ${UDSRPC_CONTRIB}/examples/config.json
  ${UDSRPC_CONTRIB}/examples/policy.json
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(PROGRAMS
  ${UDSRPC_CONTRIB}/examples/socat-oneliners.sh
  ${UDSRPC_CONTRIB}/examples/call.sh
  ${UDSRPC_CONTRIB}/examples/batch.sh
  ${UDSRPC_CONTRIB}/examples/watch-events.sh
  ${UDSRPC_CONTRIB}/examples/udsrpc.py
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# --- the Debian package: cpack -G DEB ---------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME udsrpc)
set(CPACK_PACKAGE_VENDOR "the udsrpc authors")
set(UDSRPC_PACKAGE_MAINTAINER "udsrpc maintainers <maintainers@users.noreply.b-seed-18d5492c.example>"
    CACHE STRING "Maintainer: field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${UDSRPC_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${UDSRPC_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "local control daemon speaking JSON-RPC 2.0 over a Unix socket")
# The synopsis is the summary above; CPack puts it on the Description: line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "udsrpcd serves JSON-RPC 2.0 on a Unix domain socket, one JSON request per
line. It knows every caller from the kernel (SO_PEERCRED, supplementary
groups, a pidfd-pinned executable) and a policy decides, per method, who may
call what. It keeps a small durable config store (a write is answered only
once it is fsync'd), pushes change events to subscribers, and reports its own
statistics. Socket activation and readiness notification for systemd.
.
This package contains the daemon udsrpcd, the control tool udsrpcctl, the
load tester udsrpc-bench, systemd units, bash completion, the OpenRPC
document and JSON Schemas of the protocol, and examples for socat and Python.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "socat, python3")
# Depends: computed by dpkg-shlibdeps (dpkg-dev) from the binaries, with the
# versions the build needs; written out by hand when that tool is missing.
find_program(UDSRPC_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(UDSRPC_FILE file)
if(UDSRPC_DPKG_SHLIBDEPS AND UDSRPC_FILE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6 (>= 2.34), libjansson4 (>= 2.14), libevent-core-2.1-7 (>= 2.1.8-stable)")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${UDSRPC_CONTRIB}/deb/postinst ${UDSRPC_CONTRIB}/deb/prerm ${UDSRPC_CONTRIB}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# Install into the staging tree through DESTDIR with prefix /usr, so that
# the absolute unit directory lands inside the package and the install-time
# ExecStart= says /usr/sbin/udsrpcd whatever CMAKE_INSTALL_PREFIX was.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/node_modules/")
include(CPack)
