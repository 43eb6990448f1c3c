/* rpc_errors.h — the error codes of PROTOCOL.md §2. */
#ifndef UDSRPC_RPC_ERRORS_H
#define UDSRPC_RPC_ERRORS_H

enum rpc_error_code {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	RPC_PERMISSION_DENIED = -32001,
	RPC_REQUEST_TOO_LARGE = -32002,
	RPC_SERVER_BUSY = -32003,
	RPC_SHUTTING_DOWN = -32004,
	RPC_NOT_FOUND = -32010,
	RPC_CONFLICT = -32011,
	RPC_STORAGE_ERROR = -32012,
};

/* error.message exactly as the table says; "Server error" for codes outside it. */
const char *rpc_error_message(int code);

#endif
