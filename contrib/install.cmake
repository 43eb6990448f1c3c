# contrib/install.cmake — where `cmake --install` and `cpack -G DEB` put things,
# laid out the way Debian lays out a shared library and a daemon, in three
# install components that are the three Debian packages:
#
# libudsrpc0 (the runtime library)
#   lib/libudsrpc.so.0, lib/libudsrpc.so.0.1.0
#   share/doc/libudsrpc0/copyright
# libudsrpc-dev (building against it)
#   include/udsrpc/*.h, lib/libudsrpc.a, lib/libudsrpc.so (the link-time name)
#   lib/pkgconfig/udsrpc.pc               pkg-config --cflags --libs udsrpc
#   lib/cmake/udsrpc/                     find_package(udsrpc) -> udsrpc::udsrpc
#   share/man/man3/udsrpc*.3.gz           the API
#   share/doc/libudsrpc-dev/              copyright, examples/embed/ (counterd)
# udsrpc (the daemon and its tools)
#   sbin/udsrpcd                          the daemon (not for users' PATH)
#   bin/udsrpcctl, bin/udsrpc-bench       the clients (when they are built)
#   share/man/man8/udsrpcd.8.gz, man1/, man7/udsrpc.7.gz   gzip -9n like dh_compress
#   /lib/systemd/system/udsrpcd.{service,socket}   (PREFIX/lib/systemd/system
#                                         unless PREFIX is /usr)
#   /lib/systemd/system/udsrpc-serve@.service   udsrpcctl serve METHOD (with udsrpcctl)
#   lib/sysusers.d/udsrpcd.conf           the system user the service runs as
#   share/bash-completion/completions/udsrpcctl
#   share/udsrpc/*.json                   the OpenRPC document and file schemas
#   share/doc/udsrpc/                     README, copyright, examples/
#
# `cmake --install B --component libudsrpc-dev` installs one of them. lib/ is
# CMAKE_INSTALL_LIBDIR (GNUInstallDirs: lib/<multiarch> when configured with
# prefix /usr on Debian). Installed programs carry no RPATH (CMake drops the
# build tree's on install): they find libudsrpc.so.0 in the standard libdir.
#
# Nothing goes to /etc: without a config file the embedded defaults apply, so
# the packages ship no conffiles. The example config and policy live under
# share/doc/udsrpc/examples for the administrator to copy. DESTDIR is
# honoured throughout.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(UDSRPC_CONTRIB ${PROJECT_SOURCE_DIR}/contrib)
set(UDSRPC_SYSTEMD_UNITDIR "" CACHE STRING
    "Where to install the systemd units (empty: /lib/systemd/system for prefix /usr, else PREFIX/lib/systemd/system)")
# The doc directories of the two library packages (CMAKE_INSTALL_DOCDIR is
# udsrpc's, after the project).
set(UDSRPC_LIB_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/libudsrpc0)
set(UDSRPC_DEV_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/libudsrpc-dev)
set(UDSRPC_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/udsrpc)

# --- the library: libudsrpc0 and libudsrpc-dev -------------------------------
# The versioned file and the soname link go to the runtime package, the
# unversioned link (what -ludsrpc finds) to the -dev package.
install(TARGETS udsrpc EXPORT udsrpcTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT libudsrpc0
          NAMELINK_COMPONENT libudsrpc-dev)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${UDSRPC_LIB_DOCDIR}
        RENAME copyright COMPONENT libudsrpc0)

# Every header under include/udsrpc is public; <udsrpc/udsrpc.h> includes the rest.
file(GLOB UDSRPC_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/daemon/include/udsrpc/*.h)
install(FILES ${UDSRPC_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/udsrpc
        COMPONENT libudsrpc-dev)
# libudsrpc.a: made by daemon/lib's custom target udsrpc_static (one object,
# hidden symbols localised), so it is installed as a file. Without debug
# info when stripping (cpack), as dh_strip leaves a static library: the
# symbol table stays, so it still links.
if(TARGET udsrpc_static)
  set(UDSRPC_STATIC_LIB ${PROJECT_BINARY_DIR}/daemon/lib/libudsrpc.a)
  install(FILES ${UDSRPC_STATIC_LIB} DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT libudsrpc-dev)
  set(UDSRPC_STRIP_A_CODE [[
    if(CMAKE_INSTALL_DO_STRIP AND NOT "@CMAKE_STRIP@" STREQUAL "")
      set(_libdir "@CMAKE_INSTALL_LIBDIR@")
      if(NOT IS_ABSOLUTE "${_libdir}")
        set(_libdir "${CMAKE_INSTALL_PREFIX}/${_libdir}")
      endif()
      execute_process(COMMAND "@CMAKE_STRIP@" --strip-debug --enable-deterministic-archives
                              "$ENV{DESTDIR}${_libdir}/libudsrpc.a" RESULT_VARIABLE _rc)
      if(NOT _rc EQUAL 0)
        message(FATAL_ERROR "strip --strip-debug libudsrpc.a: ${_rc}")
      endif()
    endif()
  ]])
  string(CONFIGURE "${UDSRPC_STRIP_A_CODE}" UDSRPC_STRIP_A_CODE @ONLY)
  install(CODE "${UDSRPC_STRIP_A_CODE}" COMPONENT libudsrpc-dev)
endif()

# udsrpc.pc, written at install time like the service unit below: `cmake
# --install --prefix P` and cpack (prefix /usr) each get a file naming the
# prefix they installed to.
set(UDSRPC_PC_CODE [[
  set(UDSRPC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(UDSRPC_PC_LIBDIR "@CMAKE_INSTALL_LIBDIR@")
  if(NOT IS_ABSOLUTE "${UDSRPC_PC_LIBDIR}")
    set(UDSRPC_PC_LIBDIR "\${exec_prefix}/${UDSRPC_PC_LIBDIR}")
  endif()
  set(UDSRPC_PC_INCLUDEDIR "@CMAKE_INSTALL_INCLUDEDIR@")
  if(NOT IS_ABSOLUTE "${UDSRPC_PC_INCLUDEDIR}")
    set(UDSRPC_PC_INCLUDEDIR "\${prefix}/${UDSRPC_PC_INCLUDEDIR}")
  endif()
  set(PROJECT_VERSION "@PROJECT_VERSION@")
  set(_pcdir "@CMAKE_INSTALL_LIBDIR@/pkgconfig")
  if(NOT IS_ABSOLUTE "${_pcdir}")
    set(_pcdir "${CMAKE_INSTALL_PREFIX}/${_pcdir}")
  endif()
  # Straight to its place, recorded in install_manifest.txt as file(INSTALL)
  # would: no copy in the build tree for two installs to race on.
  set(_pc "$ENV{DESTDIR}${_pcdir}/udsrpc.pc")
  message(STATUS "Installing: ${_pc}")
  configure_file("@UDSRPC_CONTRIB@/udsrpc.pc.in" "${_pc}" @ONLY)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${_pc}")
]])
string(CONFIGURE "${UDSRPC_PC_CODE}" UDSRPC_PC_CODE @ONLY)
install(CODE "${UDSRPC_PC_CODE}" COMPONENT libudsrpc-dev)

# find_package(udsrpc): the exported target (udsrpc::udsrpc, relocatable:
# its paths are relative to where the files are found), a config that finds
# jansson first, and a version file. Soname 0 is the ABI, so any 0.x
# satisfies a request for 0.y with y <= x.
install(EXPORT udsrpcTargets NAMESPACE udsrpc:: FILE udsrpcTargets.cmake
        DESTINATION ${UDSRPC_CMAKEDIR} COMPONENT libudsrpc-dev)
configure_package_config_file(${UDSRPC_CONTRIB}/udsrpcConfig.cmake.in
  ${CMAKE_BINARY_DIR}/contrib/udsrpcConfig.cmake
  INSTALL_DESTINATION ${UDSRPC_CMAKEDIR} NO_SET_AND_CHECK_MACRO)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/contrib/udsrpcConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/contrib/udsrpcConfig.cmake
              ${CMAKE_BINARY_DIR}/contrib/udsrpcConfigVersion.cmake
        DESTINATION ${UDSRPC_CMAKEDIR} COMPONENT libudsrpc-dev)

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${UDSRPC_DEV_DOCDIR}
        RENAME copyright COMPONENT libudsrpc-dev)
# counterd, the example service of udsrpc(3): built from these files alone
# against the installed library (make, or cmake with find_package).
install(FILES
  ${UDSRPC_CONTRIB}/examples/embed/README.md
  ${UDSRPC_CONTRIB}/examples/embed/counterd.c
  ${UDSRPC_CONTRIB}/examples/embed/counterd.openrpc.json
  ${UDSRPC_CONTRIB}/examples/embed/policy.json
  ${UDSRPC_CONTRIB}/examples/embed/Makefile
  ${UDSRPC_CONTRIB}/examples/embed/CMakeLists.txt
  DESTINATION ${UDSRPC_DEV_DOCDIR}/examples/embed COMPONENT libudsrpc-dev)

# --- programs: udsrpc ----------------------------------------------------------
install(TARGETS udsrpcd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR} COMPONENT udsrpc)
foreach(prog udsrpcctl udsrpc-bench)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT udsrpc)
  endif()
endforeach()

# --- man pages, compressed at build time ------------------------------------
# Sections 1, 7 and 8 belong to udsrpc, section 3 (the API) to libudsrpc-dev.
# Pages of sections 3 and 7 are installed when they exist: the glob is
# checked again at every build, so a page added later is picked up.
set(UDSRPC_MAN_PAGES ${UDSRPC_CONTRIB}/man/udsrpcd.8)
if(TARGET udsrpcctl)
  list(APPEND UDSRPC_MAN_PAGES ${UDSRPC_CONTRIB}/man/udsrpcctl.1)
endif()
if(TARGET udsrpc-bench)
  list(APPEND UDSRPC_MAN_PAGES ${UDSRPC_CONTRIB}/man/udsrpc-bench.1)
endif()
file(GLOB UDSRPC_MAN_LATER CONFIGURE_DEPENDS ${UDSRPC_CONTRIB}/man/*.3 ${UDSRPC_CONTRIB}/man/*.7)
list(APPEND UDSRPC_MAN_PAGES ${UDSRPC_MAN_LATER})
find_program(UDSRPC_GZIP gzip)
set(UDSRPC_MAN_OUTPUTS)
foreach(src ${UDSRPC_MAN_PAGES})
  get_filename_component(name ${src} NAME)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${name})
  if(section STREQUAL "3")
    set(component libudsrpc-dev)
  else()
    set(component udsrpc)
  endif()
  if(UDSRPC_GZIP)
    set(out ${CMAKE_BINARY_DIR}/contrib/man/${name}.gz)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DGZIP=${UDSRPC_GZIP} -DIN=${src} -DOUT=${out}
              -P ${UDSRPC_CONTRIB}/gzip.cmake
      DEPENDS ${src} ${UDSRPC_CONTRIB}/gzip.cmake
      COMMENT "Compressing ${name}")
    list(APPEND UDSRPC_MAN_OUTPUTS ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT ${component})
  else()
    install(FILES ${src} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT ${component})
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
  # _udsrpc_unit(NAME DIR PROGRAM): the unit NAME, its ExecStart=/usr/DIR/PROGRAM
  # pointed at the PROGRAM this install puts in DIR (relative: under the prefix).
  function(_udsrpc_unit name dir prog)
    set(_dir "${dir}")
    if(NOT IS_ABSOLUTE "${_dir}")
      set(_dir "${CMAKE_INSTALL_PREFIX}/${_dir}")
    endif()
    file(READ "@UDSRPC_CONTRIB@/systemd/${name}" _unit)
    string(REGEX REPLACE "ExecStart=/usr/s?bin/${prog} " "ExecStart=${_dir}/${prog} " _unit "${_unit}")
    file(WRITE "@CMAKE_BINARY_DIR@/contrib/systemd/${name}" "${_unit}")
    file(INSTALL DESTINATION "${_unitdir}" TYPE FILE FILES "@CMAKE_BINARY_DIR@/contrib/systemd/${name}")
  endfunction()
  _udsrpc_unit(udsrpcd.service "@CMAKE_INSTALL_SBINDIR@" udsrpcd)
  file(INSTALL DESTINATION "${_unitdir}" TYPE FILE FILES "@UDSRPC_CONTRIB@/systemd/udsrpcd.socket")
  # The serve template runs udsrpcctl, so it comes with it (README: "Let a group
  # run one privileged action").
  if("@UDSRPC_WITH_CTL@" STREQUAL "ON")
    _udsrpc_unit(udsrpc-serve@.service "@CMAKE_INSTALL_BINDIR@" udsrpcctl)
  endif()
]])
if(TARGET udsrpcctl)
  set(UDSRPC_WITH_CTL ON)
else()
  set(UDSRPC_WITH_CTL OFF)
endif()
string(CONFIGURE "${UDSRPC_UNITS_CODE}" UDSRPC_UNITS_CODE @ONLY)
install(CODE "${UDSRPC_UNITS_CODE}" COMPONENT udsrpc)
# The user of User=udsrpcd: lib/, not the multiarch libdir, is where
# systemd-sysusers looks (/usr/lib/sysusers.d).
install(FILES ${UDSRPC_CONTRIB}/systemd/udsrpcd.sysusers DESTINATION lib/sysusers.d
        RENAME udsrpcd.conf COMPONENT udsrpc)

# --- bash completion (written with udsrpcctl) -------------------------------
if(TARGET udsrpcctl AND EXISTS ${UDSRPC_CONTRIB}/bash-completion/udsrpcctl)
  install(FILES ${UDSRPC_CONTRIB}/bash-completion/udsrpcctl
          DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT udsrpc)
endif()

# --- the contract, for programs and editors ---------------------------------
install(FILES
  ${PROJECT_SOURCE_DIR}/schema/udsrpc.openrpc.json
  ${PROJECT_SOURCE_DIR}/schema/config.schema.json
  ${PROJECT_SOURCE_DIR}/schema/policy.schema.json
  DESTINATION ${CMAKE_INSTALL_DATADIR}/udsrpc COMPONENT udsrpc)

# --- documentation and examples ---------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT udsrpc)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright
        COMPONENT udsrpc)
install(FILES
  ${UDSRPC_CONTRIB}/examples/README.md
  ${UDSRPC_CONTRIB}/examples/config.json
  ${UDSRPC_CONTRIB}/examples/policy.json
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT udsrpc)
install(PROGRAMS
  ${UDSRPC_CONTRIB}/examples/socat-oneliners.sh
  ${UDSRPC_CONTRIB}/examples/call.sh
  ${UDSRPC_CONTRIB}/examples/batch.sh
  ${UDSRPC_CONTRIB}/examples/watch-events.sh
  ${UDSRPC_CONTRIB}/examples/udsrpc.py
  ${UDSRPC_CONTRIB}/examples/provider-example.py
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT udsrpc)

# --- the Debian packages: cpack -G DEB ---------------------------------------
# One package per install component (CPACK_DEB_COMPONENT_INSTALL), named
# after it. No CPACK_COMPONENTS_ALL: a file installed without a component
# would make a fourth package (udsrpc-Unspecified), which the package test
# refuses, rather than silently go missing.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME udsrpc)
set(CPACK_PACKAGE_VENDOR "the udsrpc authors")
set(UDSRPC_PACKAGE_MAINTAINER "udsrpc maintainers <maintainers@users.noreply.b-seed-18d5492c.example>"
    CACHE STRING "Maintainer: field of the Debian packages")
set(CPACK_PACKAGE_CONTACT "${UDSRPC_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${UDSRPC_PACKAGE_MAINTAINER}")
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING IGNORE)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(UDSRPC_DEB_VERSION "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")

# Each description's first line is its package's synopsis. (No
# CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put that one line in front
# of all three.)
set(CPACK_DEBIAN_UDSRPC_PACKAGE_NAME udsrpc)
set(CPACK_DEBIAN_UDSRPC_PACKAGE_SECTION admin)
set(CPACK_COMPONENT_UDSRPC_DESCRIPTION "local control daemon speaking JSON-RPC 2.0 over a Unix socket
udsrpcd serves JSON-RPC 2.0 on a Unix domain socket, one JSON request per
line. It knows every caller from the kernel (SO_PEERCRED, supplementary
groups, a pidfd-pinned executable) and a policy decides, per method, who may
call what. It keeps a small durable config store (a write is answered only
once it is fsync'd), pushes change events to subscribers, and reports its own
statistics. Socket activation and readiness notification for systemd.
.
This package contains the daemon udsrpcd, the control tool udsrpcctl, the
load tester udsrpc-bench, systemd units, bash completion, the OpenRPC
document and JSON Schemas of the protocol, and examples for socat and Python.")
set(CPACK_DEBIAN_UDSRPC_PACKAGE_SUGGESTS "socat, python3")
# postinst runs systemd-sysusers (package systemd, or the standalone one of
# systemd-free systems); shlibdeps' Depends are appended to this.
set(UDSRPC_DEB_SYSUSERS "systemd | systemd-standalone-sysusers | systemd-sysusers")
set(CPACK_DEBIAN_UDSRPC_PACKAGE_DEPENDS "${UDSRPC_DEB_SYSUSERS}")
set(CPACK_DEBIAN_UDSRPC_PACKAGE_CONTROL_EXTRA
  ${UDSRPC_CONTRIB}/deb/postinst ${UDSRPC_CONTRIB}/deb/prerm ${UDSRPC_CONTRIB}/deb/postrm)

set(CPACK_DEBIAN_LIBUDSRPC0_PACKAGE_NAME libudsrpc0)
set(CPACK_DEBIAN_LIBUDSRPC0_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_LIBUDSRPC0_DESCRIPTION "JSON-RPC 2.0 over a Unix socket - shared library
libudsrpc gives a C service a control socket for its own methods:
JSON-RPC 2.0, one request per line, each caller known from the kernel
(SO_PEERCRED, supplementary groups, a pidfd-pinned executable), a policy
deciding who may call what, params validated against an OpenRPC document,
events for subscribers, limits, statistics and a graceful stop. It also
holds the client side udsrpcctl and udsrpc-bench are built on.
.
This package contains the shared library.")

set(CPACK_DEBIAN_LIBUDSRPC-DEV_PACKAGE_NAME libudsrpc-dev)
set(CPACK_DEBIAN_LIBUDSRPC-DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_LIBUDSRPC-DEV_DESCRIPTION "JSON-RPC 2.0 over a Unix socket - development files
libudsrpc gives a C service a control socket for its own methods:
JSON-RPC 2.0, one request per line, each caller known from the kernel, a
policy deciding who may call what, params validated against an OpenRPC
document, events, limits and statistics.
.
This package contains the headers, the static library, the pkg-config and
CMake package files, the API manual pages (udsrpc(3)) and counterd, an
example service.")
# <udsrpc/udsrpc.h> includes <jansson.h>. libevent-dev too, although only
# <udsrpc/event.h> and static linking need libevent: pkg-config (pkgconf
# 1.8 on Debian 12) refuses even `pkg-config --cflags --libs udsrpc` when a
# module of Requires.private (libevent_core) is not installed.
set(CPACK_DEBIAN_LIBUDSRPC-DEV_PACKAGE_DEPENDS "libjansson-dev (>= 2.14), libevent-dev (>= 2.1)")
set(CPACK_DEBIAN_LIBUDSRPC-DEV_PACKAGE_SHLIBDEPS OFF)

# Depends on the library at exactly this version, from the component
# dependencies: "libudsrpc0 (= 0.1.0-1)" (the version CPack writes, release
# included): the programs, the headers and the .so link are built and
# tested with this very library, and upgrade in step with it.
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_COMPONENT_UDSRPC_DEPENDS libudsrpc0)
set(CPACK_COMPONENT_LIBUDSRPC-DEV_DEPENDS libudsrpc0)

# libudsrpc0 ships a shlibs file ("libudsrpc 0 libudsrpc0 (>= 0.1.0-1)"), so
# that dpkg-shlibdeps of a package built against the installed library
# depends on it: >=, as soname 0 only grows.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

# The rest of Depends comes from dpkg-shlibdeps (dpkg-dev) run on the
# binaries of each package, with the versions the build needs; written out
# by hand when that tool is missing.
#
# dpkg-shlibdeps on udsrpc's programs must find libudsrpc.so.0, which is in
# no installed package but only in libudsrpc0's staging tree: without help
# it stops with "cannot find library libudsrpc.so.0 needed by
# ./usr/bin/udsrpcctl" (a versioned soname is an error even with
# --ignore-missing-info, which CPack passes). CPack 3.25 runs it in the
# component's own staging directory (_CPack_Packages/<system>/DEB/<file
# name>/<component>), so a -l directory (SHLIBDEPS_PRIVATE_DIRS) relative to
# that reaches the sibling libudsrpc0/. A library found through -l counts as
# private: dpkg-shlibdeps then looks up no shlibs for it and adds nothing for
# it to Depends, quietly. (GENERATE_SHLIBS does not help here: CPack writes
# that file into libudsrpc0's control archive, not into a DEBIAN/ directory
# of the staging tree where dpkg-shlibdeps would look.) The Depends on
# libudsrpc0 comes from the component dependency above; the rest of
# udsrpc's Depends (libc6, libjansson4, libevent) from dpkg-shlibdeps. The
# -l is harmless for libudsrpc0's own run.
find_program(UDSRPC_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(UDSRPC_FILE file)
if(UDSRPC_DPKG_SHLIBDEPS AND UDSRPC_FILE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "../libudsrpc0${CMAKE_INSTALL_LIBDIR}")
  else()
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "../libudsrpc0/usr/${CMAKE_INSTALL_LIBDIR}")
  endif()
else()
  set(CPACK_DEBIAN_UDSRPC_PACKAGE_DEPENDS
      "${UDSRPC_DEB_SYSUSERS}, libc6 (>= 2.34), libjansson4 (>= 2.14), libevent-core-2.1-7 (>= 2.1.8-stable)")
  set(CPACK_DEBIAN_LIBUDSRPC0_PACKAGE_DEPENDS
      "libc6 (>= 2.34), libjansson4 (>= 2.14), libevent-core-2.1-7 (>= 2.1.8-stable)")
endif()
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
