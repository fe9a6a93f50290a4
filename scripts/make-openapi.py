#!/usr/bin/env python3
"""Writes Sources/Memory3Server/API/OpenAPIDocument.swift: the OpenAPI 3.1 document of every route
(served at GET /openapi.json). Edit the paths here and run it again; OpenAPITests fails when the
document and the server's routes disagree.

    python3 scripts/make-openapi.py
"""
import json
import os
err = {"$ref": "#/components/responses/Error"}
def resp(desc, schema=None, ctype="application/json"):
    r = {"description": desc}
    if schema is not None:
        r["content"] = {ctype: {"schema": schema}}
    return r
def body(schema, required=True, ctype="application/json", extra=None):
    content = {ctype: {"schema": schema}}
    if extra:
        content.update(extra)
    return {"required": required, "content": content}
obj = lambda props, req=(): {"type": "object", "properties": props, **({"required": list(req)} if req else {})}
S = {"type": "string"}; I = {"type": "integer"}; B = {"type": "boolean"}; N = {"type": "number"}
retriever = {"type": "string", "enum": ["bm25", "dense", "hybrid"],
             "description": "bm25 (full-text), dense (all-MiniLM-L6-v2 cosine), hybrid (0.5 BM25 score over the best + 0.5 cosine); default: the server's memory.retriever"}
memory = obj({"mode": {"type": "string", "enum": ["explicit", "text", "off"]}, "k": {"type": "integer", "minimum": 1}, "retriever": retriever})
common_gen = {"model": S, "max_tokens": I, "temperature": N, "top_p": N, "top_k": I, "min_p": N,
              "frequency_penalty": N, "presence_penalty": N, "seed": I, "stop": {"oneOf": [S, {"type": "array", "items": S}]},
              "stream": B, "stream_options": obj({"include_usage": B}), "memory": memory, "ignore_eos": B, "user": S,
              "n": {"type": "integer", "minimum": 1, "maximum": 8, "description": "choices, each its own sequence; not with stream"}}
response_format = obj({"type": {"type": "string", "enum": ["text", "json_object", "json_schema"]},
                       "json_schema": obj({"name": S, "description": S, "strict": B,
                                           "schema": {"type": "object", "description": "JSON Schema; keywords the decoder cannot enforce are refused (400)"}}, ["schema"])},
                      ["type"])
tool = obj({"type": {"type": "string", "enum": ["function"]},
            "function": obj({"name": S, "description": S, "parameters": {"type": "object"}}, ["name"])}, ["type", "function"])
tool_choice = {"oneOf": [{"type": "string", "enum": ["none", "auto", "required"]},
                         obj({"type": {"type": "string", "enum": ["function"]}, "function": obj({"name": S}, ["name"])}, ["type", "function"])]}
tool_call = obj({"id": S, "type": {"type": "string", "enum": ["function"]}, "function": obj({"name": S, "arguments": S}, ["name", "arguments"])})
chat_extra = {"logprobs": B, "top_logprobs": {"type": "integer", "minimum": 0, "maximum": 20},
              "response_format": response_format, "tools": {"type": "array", "items": tool}, "tool_choice": tool_choice}
text_extra = {"logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20}, "response_format": response_format,
              "echo": {"type": "boolean", "description": "the answer starts with the prompt; with logprobs, the prompt tokens' too (max_tokens 0 scores only)"}}
doc_in = obj({"title": S, "text": S, "source": S, "format": {"type": "string", "enum": ["markdown", "plain"]}, "external_id": S}, ["title", "text"])
ingestion = {"$ref": "#/components/schemas/Ingestion"}
document = {"$ref": "#/components/schemas/Document"}
upload_body = body(doc_in, extra={"text/plain": {"schema": S}, "text/markdown": {"schema": S},
                                  "multipart/form-data": {"schema": obj({"file": {"type": "string", "format": "binary"}})}})
id_param = {"name": "id", "in": "path", "required": True, "schema": S,
            "description": "A document id (integer) or an ingestion id (ing_...)"}
paths = {
  "/": {"get": {"summary": "The playground: a self-contained page to chat (memory off/text/explicit), upload documents and see the memories each chunk read", "security": [],
              "responses": {"200": resp("the page", S, "text/html")}}},
  "/health": {"get": {"summary": "Liveness: 200 while the process serves", "security": [], "responses": {"200": resp("ok", obj({"status": S}))}}},
  "/ready": {"get": {"summary": "Readiness: 200 once the model has loaded", "security": [],
                      "responses": {"200": resp("ready", obj({"status": S, "model": S})), "503": resp("not ready", obj({"status": S, "reason": S}))}}},
  "/metrics": {"get": {"summary": "Prometheus text exposition", "responses": {"200": resp("metrics", S, "text/plain")}}},
  "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": resp("the OpenAPI document", {"type": "object"})}}},
  "/v1/models": {"get": {"summary": "The served model", "responses": {"200": resp("models", obj({"object": S, "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}})), "401": err}}},
  "/v1/models/{id}": {"get": {"summary": "One model", "parameters": [{"name": "id", "in": "path", "required": True, "schema": S}],
                               "responses": {"200": resp("model", {"$ref": "#/components/schemas/Model"}), "401": err, "404": err}}},
  "/v1/completions": {"post": {"summary": "Text completion (OpenAI); explicit memory by default when a store is loaded",
                               "requestBody": body(obj({**common_gen, **text_extra, "prompt": {"oneOf": [S, {"type": "array", "items": S}]}}, ["prompt"])),
                               "responses": {"200": resp("completion, or Server-Sent Events when stream is true", {"type": "object"}),
                                             "400": err, "401": err, "429": err, "503": err, "504": err}}},
  "/v1/chat/completions": {"post": {"summary": "Chat completion (OpenAI), through the model's chat template",
                                    "requestBody": body(obj({**common_gen, **chat_extra, "max_completion_tokens": I,
                                                             "messages": {"type": "array", "items": obj({"role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
                                                                                                       "content": {"oneOf": [S, {"type": "array", "items": obj({"type": S, "text": S})}, {"type": "null"}]},
                                                                                                       "tool_calls": {"type": "array", "items": tool_call}, "tool_call_id": S}, ["role"])}}, ["messages"])),
                                    "responses": {"200": resp("chat completion, or Server-Sent Events when stream is true", {"type": "object"}),
                                                  "400": err, "401": err, "429": err, "503": err, "504": err}}},
  "/v1/documents": {
    "get": {"summary": "Stored documents, or ingestions by state", "parameters": [
               {"name": "limit", "in": "query", "schema": I}, {"name": "offset", "in": "query", "schema": I},
               {"name": "state", "in": "query", "schema": S, "description": "comma-separated: queued, encoding, skipped, failed, cancelled (ingestions); ready (documents)"}],
            "responses": {"200": resp("a list of documents or ingestions", obj({"object": S, "data": {"type": "array", "items": {"oneOf": [document, ingestion]}}, "has_more": B})), "400": err, "401": err, "503": err}},
    "post": {"summary": "Upload documents: recorded before the 202, encoded in the background",
             "parameters": [{"name": "title", "in": "query", "schema": S}, {"name": "source", "in": "query", "schema": S}, {"name": "external_id", "in": "query", "schema": S}],
             "requestBody": upload_body,
             "responses": {"202": resp("accepted: the ingestion (or a list of them for a multipart upload)", ingestion),
                           "400": err, "401": err, "413": err, "415": err, "429": err, "503": err, "507": err}}},
  "/v1/documents/{id}": {
    "get": {"summary": "A document with its references (?include=text), or an ingestion's status", "parameters": [id_param, {"name": "include", "in": "query", "schema": S}],
            "responses": {"200": resp("the document or ingestion", {"oneOf": [document, ingestion]}), "401": err, "404": err}},
    "put": {"summary": "Replace a document's text (keeps its id)", "parameters": [id_param], "requestBody": upload_body,
            "responses": {"202": resp("accepted", ingestion), "400": err, "401": err, "404": err, "413": err, "429": err}},
    "delete": {"summary": "Delete a document, or cancel a pending ingestion", "parameters": [id_param],
               "responses": {"200": resp("deleted or cancelled", {"type": "object"}), "401": err, "404": err, "409": err, "507": err}}},
  "/v1/retrieve": {"post": {"summary": "What the retriever would pick for a query",
                            "requestBody": body(obj({"query": S, "k": I, "include_text": B, "retriever": retriever}, ["query"])),
                            "responses": {"200": resp("ranked references", obj({"object": S, "query": S, "k": I, "retriever": S, "data": {"type": "array", "items": obj({
                                "rank": I, "reference_id": I, "document_id": I, "score": N,
                                "bm25_score": {"type": ["number", "null"], "description": "BM25's score (null: BM25 did not find it)"},
                                "cosine": {"type": ["number", "null"], "description": "the embedding cosine (dense, hybrid)"},
                                "text": S, "document_title": S})}})), "400": err, "401": err, "503": err}}},
  "/v1/embeddings": {"post": {"summary": "Embeddings from the model's hidden states (mean of the final-normed states over the tokens, BOS left out, unit length)",
                              "requestBody": body(obj({"input": {"oneOf": [S, {"type": "array", "items": S}, {"type": "array", "items": I},
                                                                           {"type": "array", "items": {"type": "array", "items": I}}]},
                                                       "model": S, "encoding_format": {"type": "string", "enum": ["float", "base64"]}, "dimensions": I}, ["input"])),
                              "responses": {"200": resp("the embeddings", obj({"object": S, "model": S, "data": {"type": "array", "items": obj({"object": S, "index": I, "embedding": {"oneOf": [{"type": "array", "items": N}, S]}})},
                                                                              "usage": obj({"prompt_tokens": I, "total_tokens": I})})),
                                            "400": err, "401": err, "404": err, "501": err, "503": err}}},
  "/tokenize": {"post": {"summary": "Token ids of a text (llama.cpp's shape)",
                         "requestBody": body(obj({"content": S, "add_special": B, "parse_special": B, "with_pieces": B}, ["content"])),
                         "responses": {"200": resp("the tokens", obj({"tokens": {"type": "array"}})), "400": err, "401": err, "503": err}}},
  "/detokenize": {"post": {"summary": "The text of token ids (llama.cpp's shape)",
                           "requestBody": body(obj({"tokens": {"type": "array", "items": I}}, ["tokens"])),
                           "responses": {"200": resp("the text", obj({"content": S})), "400": err, "401": err, "503": err}}},
}
docobj = {
  "openapi": "3.1.0",
  "info": {"title": "memory3", "version": "1", "description": "An OpenAI-compatible inference server with explicit memory (Memory3). Every response carries X-Request-Id; errors are {\"error\": {message, type, param, code, request_id}}."},
  "servers": [{"url": "http://127.0.0.1:8080"}],
  "security": [{"bearer": []}],
  "paths": paths,
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "Needed when API keys are configured"}},
    "responses": {"Error": {"description": "an error in OpenAI's shape", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
    "schemas": {
      "Error": obj({"error": obj({"message": S, "type": S, "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}, "request_id": S}, ["message", "type"])}, ["error"]),
      "Model": obj({"id": S, "object": S, "created": I, "owned_by": S, "context_length": I}),
      "Document": obj({"id": I, "object": S, "title": S, "source": S, "sha256": S, "bytes": I, "references": I, "created_at": I, "status": S, "external_id": {"type": ["string", "null"]}}),
      "Ingestion": obj({"id": S, "object": S, "title": S, "external_id": {"type": ["string", "null"]}, "status": {"type": "string", "enum": ["queued", "encoding", "ready", "skipped", "failed", "cancelled"]},
                        "references_done": I, "references_total": {"type": ["integer", "null"]}, "document_id": {"type": ["integer", "null"]}, "error": {"type": ["string", "null"]},
                        "created_at": I, "updated_at": I, "status_url": S}),
    },
  },
}
text = json.dumps(docobj, indent=1, sort_keys=True)
assert '"""' not in text
open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Sources/Memory3Server/API/OpenAPIDocument.swift"), "w").write(
'''/// The OpenAPI 3.1 document of every route, served at GET /openapi.json. `OpenAPITests` fails when
/// a route the server has is missing here, or one listed here is not served.
enum OpenAPIDocument {
    static let json = #"""
''' + text + '''
"""#
}
''')
