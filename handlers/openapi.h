/* GET /openapi.yaml: the published contract, embedded at build time. */
#ifndef TRADESTORE_HANDLERS_OPENAPI_H
#define TRADESTORE_HANDLERS_OPENAPI_H

struct req;

/* 200 application/yaml with openapi.yaml as it was when the binary was built. */
void handle_openapi(struct req *r);

#endif
