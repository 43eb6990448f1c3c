# udsrpcctl: the control tool (udsrpcctl(1)), on libudsrpc's public client API.
# Installed by contrib/install.cmake with the other programs.
add_executable(udsrpcctl
  ctl/main.c
  ctl/commands.c
  ctl/output.c
  ctl/serve.c
  ctl/session.c
  ctl/stream.c
  ctl/table.c)
target_compile_options(udsrpcctl PRIVATE ${UDSRPC_WARNINGS})
target_link_libraries(udsrpcctl PRIVATE udsrpc udsrpc_common)
