# udsrpcctl: the control tool (CLI.md), on the shared client layer.
# Installed by contrib/install.cmake with the other programs.
add_executable(udsrpcctl
  ctl/main.c
  ctl/commands.c
  ctl/output.c
  ctl/session.c
  ctl/stream.c
  ctl/table.c)
target_compile_options(udsrpcctl PRIVATE ${UDSRPC_WARNINGS})
target_link_libraries(udsrpcctl PRIVATE udsrpc_client)
