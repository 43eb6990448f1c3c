/* documents.h — the JSON files of schema/ that the build embeds in udsrpcd, NUL-terminated. */
#ifndef UDSRPCD_DOCUMENTS_H
#define UDSRPCD_DOCUMENTS_H

#include <stddef.h>

extern const char udsrpc_openrpc_json[];
extern const size_t udsrpc_openrpc_json_len;
extern const char udsrpc_config_schema_json[];
extern const size_t udsrpc_config_schema_json_len;
extern const char udsrpc_policy_schema_json[];
extern const size_t udsrpc_policy_schema_json_len;

#endif
