/// The OpenAPI 3.1 document of every route, served at GET /openapi.json. `OpenAPITests` fails when
/// a route the server has is missing here, or one listed here is not served.
enum OpenAPIDocument {
    static let json = #"""
{
 "components": {
  "responses": {
   "Error": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "an error in OpenAI's shape"
   }
  },
  "schemas": {
   "Document": {
    "properties": {
     "bytes": {
      "type": "integer"
     },
     "created_at": {
      "type": "integer"
     },
     "external_id": {
      "type": [
       "string",
       "null"
      ]
     },
     "id": {
      "type": "integer"
     },
     "object": {
      "type": "string"
     },
     "references": {
      "type": "integer"
     },
     "sha256": {
      "type": "string"
     },
     "source": {
      "type": "string"
     },
     "status": {
      "type": "string"
     },
     "title": {
      "type": "string"
     }
    },
    "type": "object"
   },
   "Error": {
    "properties": {
     "error": {
      "properties": {
       "code": {
        "type": [
         "string",
         "null"
        ]
       },
       "message": {
        "type": "string"
       },
       "param": {
        "type": [
         "string",
         "null"
        ]
       },
       "request_id": {
        "type": "string"
       },
       "type": {
        "type": "string"
       }
      },
      "required": [
       "message",
       "type"
      ],
      "type": "object"
     }
    },
    "required": [
     "error"
    ],
    "type": "object"
   },
   "Ingestion": {
    "properties": {
     "created_at": {
      "type": "integer"
     },
     "document_id": {
      "type": [
       "integer",
       "null"
      ]
     },
     "error": {
      "type": [
       "string",
       "null"
      ]
     },
     "external_id": {
      "type": [
       "string",
       "null"
      ]
     },
     "id": {
      "type": "string"
     },
     "object": {
      "type": "string"
     },
     "references_done": {
      "type": "integer"
     },
     "references_total": {
      "type": [
       "integer",
       "null"
      ]
     },
     "status": {
      "enum": [
       "queued",
       "encoding",
       "ready",
       "skipped",
       "failed",
       "cancelled"
      ],
      "type": "string"
     },
     "status_url": {
      "type": "string"
     },
     "title": {
      "type": "string"
     },
     "updated_at": {
      "type": "integer"
     }
    },
    "type": "object"
   },
   "Model": {
    "properties": {
     "context_length": {
      "type": "integer"
     },
     "created": {
      "type": "integer"
     },
     "id": {
      "type": "string"
     },
     "object": {
      "type": "string"
     },
     "owned_by": {
      "type": "string"
     }
    },
    "type": "object"
   }
  },
  "securitySchemes": {
   "bearer": {
    "description": "Needed when API keys are configured",
    "scheme": "bearer",
    "type": "http"
   }
  }
 },
 "info": {
  "description": "An OpenAI-compatible inference server with explicit memory (Memory3). Every response carries X-Request-Id; errors are {\"error\": {message, type, param, code, request_id}}.",
  "title": "memory3",
  "version": "1"
 },
 "openapi": "3.1.0",
 "paths": {
  "/": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      },
      "description": "the page"
     }
    },
    "security": [],
    "summary": "The playground: a self-contained page to chat (memory off/text/explicit), upload documents and see the memories each chunk read"
   }
  },
  "/detokenize": {
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "tokens": {
          "items": {
           "type": "integer"
          },
          "type": "array"
         }
        },
        "required": [
         "tokens"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "content": {
           "type": "string"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "the text"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "The text of token ids (llama.cpp's shape)"
   }
  },
  "/health": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "status": {
           "type": "string"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "ok"
     }
    },
    "security": [],
    "summary": "Liveness: 200 while the process serves"
   }
  },
  "/metrics": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      },
      "description": "metrics"
     }
    },
    "summary": "Prometheus text exposition"
   }
  },
  "/openapi.json": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      },
      "description": "the OpenAPI document"
     }
    },
    "security": [],
    "summary": "This document"
   }
  },
  "/ready": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "model": {
           "type": "string"
          },
          "status": {
           "type": "string"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "ready"
     },
     "503": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "reason": {
           "type": "string"
          },
          "status": {
           "type": "string"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "not ready"
     }
    },
    "security": [],
    "summary": "Readiness: 200 once the model has loaded"
   }
  },
  "/tokenize": {
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "add_special": {
          "type": "boolean"
         },
         "content": {
          "type": "string"
         },
         "parse_special": {
          "type": "boolean"
         },
         "with_pieces": {
          "type": "boolean"
         }
        },
        "required": [
         "content"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "tokens": {
           "type": "array"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "the tokens"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Token ids of a text (llama.cpp's shape)"
   }
  },
  "/v1/chat/completions": {
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "frequency_penalty": {
          "type": "number"
         },
         "ignore_eos": {
          "type": "boolean"
         },
         "logprobs": {
          "type": "boolean"
         },
         "max_completion_tokens": {
          "type": "integer"
         },
         "max_tokens": {
          "type": "integer"
         },
         "memory": {
          "properties": {
           "k": {
            "minimum": 1,
            "type": "integer"
           },
           "mode": {
            "enum": [
             "explicit",
             "text",
             "off"
            ],
            "type": "string"
           },
           "retriever": {
            "description": "bm25 (full-text), dense (all-MiniLM-L6-v2 cosine), hybrid (0.5 BM25 score over the best + 0.5 cosine); default: the server's memory.retriever",
            "enum": [
             "bm25",
             "dense",
             "hybrid"
            ],
            "type": "string"
           }
          },
          "type": "object"
         },
         "messages": {
          "items": {
           "properties": {
            "content": {
             "oneOf": [
              {
               "type": "string"
              },
              {
               "items": {
                "properties": {
                 "text": {
                  "type": "string"
                 },
                 "type": {
                  "type": "string"
                 }
                },
                "type": "object"
               },
               "type": "array"
              },
              {
               "type": "null"
              }
             ]
            },
            "role": {
             "enum": [
              "system",
              "developer",
              "user",
              "assistant",
              "tool"
             ],
             "type": "string"
            },
            "tool_call_id": {
             "type": "string"
            },
            "tool_calls": {
             "items": {
              "properties": {
               "function": {
                "properties": {
                 "arguments": {
                  "type": "string"
                 },
                 "name": {
                  "type": "string"
                 }
                },
                "required": [
                 "name",
                 "arguments"
                ],
                "type": "object"
               },
               "id": {
                "type": "string"
               },
               "type": {
                "enum": [
                 "function"
                ],
                "type": "string"
               }
              },
              "type": "object"
             },
             "type": "array"
            }
           },
           "required": [
            "role"
           ],
           "type": "object"
          },
          "type": "array"
         },
         "min_p": {
          "type": "number"
         },
         "model": {
          "type": "string"
         },
         "n": {
          "description": "choices, each its own sequence; not with stream",
          "maximum": 8,
          "minimum": 1,
          "type": "integer"
         },
         "presence_penalty": {
          "type": "number"
         },
         "response_format": {
          "properties": {
           "json_schema": {
            "properties": {
             "description": {
              "type": "string"
             },
             "name": {
              "type": "string"
             },
             "schema": {
              "description": "JSON Schema; keywords the decoder cannot enforce are refused (400)",
              "type": "object"
             },
             "strict": {
              "type": "boolean"
             }
            },
            "required": [
             "schema"
            ],
            "type": "object"
           },
           "type": {
            "enum": [
             "text",
             "json_object",
             "json_schema"
            ],
            "type": "string"
           }
          },
          "required": [
           "type"
          ],
          "type": "object"
         },
         "seed": {
          "type": "integer"
         },
         "stop": {
          "oneOf": [
           {
            "type": "string"
           },
           {
            "items": {
             "type": "string"
            },
            "type": "array"
           }
          ]
         },
         "stream": {
          "type": "boolean"
         },
         "stream_options": {
          "properties": {
           "include_usage": {
            "type": "boolean"
           }
          },
          "type": "object"
         },
         "temperature": {
          "type": "number"
         },
         "tool_choice": {
          "oneOf": [
           {
            "enum": [
             "none",
             "auto",
             "required"
            ],
            "type": "string"
           },
           {
            "properties": {
             "function": {
              "properties": {
               "name": {
                "type": "string"
               }
              },
              "required": [
               "name"
              ],
              "type": "object"
             },
             "type": {
              "enum": [
               "function"
              ],
              "type": "string"
             }
            },
            "required": [
             "type",
             "function"
            ],
            "type": "object"
           }
          ]
         },
         "tools": {
          "items": {
           "properties": {
            "function": {
             "properties": {
              "description": {
               "type": "string"
              },
              "name": {
               "type": "string"
              },
              "parameters": {
               "type": "object"
              }
             },
             "required": [
              "name"
             ],
             "type": "object"
            },
            "type": {
             "enum": [
              "function"
             ],
             "type": "string"
            }
           },
           "required": [
            "type",
            "function"
           ],
           "type": "object"
          },
          "type": "array"
         },
         "top_k": {
          "type": "integer"
         },
         "top_logprobs": {
          "maximum": 20,
          "minimum": 0,
          "type": "integer"
         },
         "top_p": {
          "type": "number"
         },
         "user": {
          "type": "string"
         }
        },
        "required": [
         "messages"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      },
      "description": "chat completion, or Server-Sent Events when stream is true"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "429": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     },
     "504": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Chat completion (OpenAI), through the model's chat template"
   }
  },
  "/v1/completions": {
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "echo": {
          "description": "the answer starts with the prompt; with logprobs, the prompt tokens' too (max_tokens 0 scores only)",
          "type": "boolean"
         },
         "frequency_penalty": {
          "type": "number"
         },
         "ignore_eos": {
          "type": "boolean"
         },
         "logprobs": {
          "maximum": 20,
          "minimum": 0,
          "type": [
           "integer",
           "null"
          ]
         },
         "max_tokens": {
          "type": "integer"
         },
         "memory": {
          "properties": {
           "k": {
            "minimum": 1,
            "type": "integer"
           },
           "mode": {
            "enum": [
             "explicit",
             "text",
             "off"
            ],
            "type": "string"
           },
           "retriever": {
            "description": "bm25 (full-text), dense (all-MiniLM-L6-v2 cosine), hybrid (0.5 BM25 score over the best + 0.5 cosine); default: the server's memory.retriever",
            "enum": [
             "bm25",
             "dense",
             "hybrid"
            ],
            "type": "string"
           }
          },
          "type": "object"
         },
         "min_p": {
          "type": "number"
         },
         "model": {
          "type": "string"
         },
         "n": {
          "description": "choices, each its own sequence; not with stream",
          "maximum": 8,
          "minimum": 1,
          "type": "integer"
         },
         "presence_penalty": {
          "type": "number"
         },
         "prompt": {
          "oneOf": [
           {
            "type": "string"
           },
           {
            "items": {
             "type": "string"
            },
            "type": "array"
           }
          ]
         },
         "response_format": {
          "properties": {
           "json_schema": {
            "properties": {
             "description": {
              "type": "string"
             },
             "name": {
              "type": "string"
             },
             "schema": {
              "description": "JSON Schema; keywords the decoder cannot enforce are refused (400)",
              "type": "object"
             },
             "strict": {
              "type": "boolean"
             }
            },
            "required": [
             "schema"
            ],
            "type": "object"
           },
           "type": {
            "enum": [
             "text",
             "json_object",
             "json_schema"
            ],
            "type": "string"
           }
          },
          "required": [
           "type"
          ],
          "type": "object"
         },
         "seed": {
          "type": "integer"
         },
         "stop": {
          "oneOf": [
           {
            "type": "string"
           },
           {
            "items": {
             "type": "string"
            },
            "type": "array"
           }
          ]
         },
         "stream": {
          "type": "boolean"
         },
         "stream_options": {
          "properties": {
           "include_usage": {
            "type": "boolean"
           }
          },
          "type": "object"
         },
         "temperature": {
          "type": "number"
         },
         "top_k": {
          "type": "integer"
         },
         "top_p": {
          "type": "number"
         },
         "user": {
          "type": "string"
         }
        },
        "required": [
         "prompt"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      },
      "description": "completion, or Server-Sent Events when stream is true"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "429": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     },
     "504": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Text completion (OpenAI); explicit memory by default when a store is loaded"
   }
  },
  "/v1/documents": {
   "get": {
    "parameters": [
     {
      "in": "query",
      "name": "limit",
      "schema": {
       "type": "integer"
      }
     },
     {
      "in": "query",
      "name": "offset",
      "schema": {
       "type": "integer"
      }
     },
     {
      "description": "comma-separated: queued, encoding, skipped, failed, cancelled (ingestions); ready (documents)",
      "in": "query",
      "name": "state",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "data": {
           "items": {
            "oneOf": [
             {
              "$ref": "#/components/schemas/Document"
             },
             {
              "$ref": "#/components/schemas/Ingestion"
             }
            ]
           },
           "type": "array"
          },
          "has_more": {
           "type": "boolean"
          },
          "object": {
           "type": "string"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "a list of documents or ingestions"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Stored documents, or ingestions by state"
   },
   "post": {
    "parameters": [
     {
      "in": "query",
      "name": "title",
      "schema": {
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "source",
      "schema": {
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "external_id",
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "external_id": {
          "type": "string"
         },
         "format": {
          "enum": [
           "markdown",
           "plain"
          ],
          "type": "string"
         },
         "source": {
          "type": "string"
         },
         "text": {
          "type": "string"
         },
         "title": {
          "type": "string"
         }
        },
        "required": [
         "title",
         "text"
        ],
        "type": "object"
       }
      },
      "multipart/form-data": {
       "schema": {
        "properties": {
         "file": {
          "format": "binary",
          "type": "string"
         }
        },
        "type": "object"
       }
      },
      "text/markdown": {
       "schema": {
        "type": "string"
       }
      },
      "text/plain": {
       "schema": {
        "type": "string"
       }
      }
     },
     "required": true
    },
    "responses": {
     "202": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Ingestion"
        }
       }
      },
      "description": "accepted: the ingestion (or a list of them for a multipart upload)"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "413": {
      "$ref": "#/components/responses/Error"
     },
     "415": {
      "$ref": "#/components/responses/Error"
     },
     "429": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     },
     "507": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Upload documents: recorded before the 202, encoded in the background"
   }
  },
  "/v1/documents/{id}": {
   "delete": {
    "parameters": [
     {
      "description": "A document id (integer) or an ingestion id (ing_...)",
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      },
      "description": "deleted or cancelled"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "409": {
      "$ref": "#/components/responses/Error"
     },
     "507": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Delete a document, or cancel a pending ingestion"
   },
   "get": {
    "parameters": [
     {
      "description": "A document id (integer) or an ingestion id (ing_...)",
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "include",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "oneOf": [
          {
           "$ref": "#/components/schemas/Document"
          },
          {
           "$ref": "#/components/schemas/Ingestion"
          }
         ]
        }
       }
      },
      "description": "the document or ingestion"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "A document with its references (?include=text), or an ingestion's status"
   },
   "put": {
    "parameters": [
     {
      "description": "A document id (integer) or an ingestion id (ing_...)",
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "external_id": {
          "type": "string"
         },
         "format": {
          "enum": [
           "markdown",
           "plain"
          ],
          "type": "string"
         },
         "source": {
          "type": "string"
         },
         "text": {
          "type": "string"
         },
         "title": {
          "type": "string"
         }
        },
        "required": [
         "title",
         "text"
        ],
        "type": "object"
       }
      },
      "multipart/form-data": {
       "schema": {
        "properties": {
         "file": {
          "format": "binary",
          "type": "string"
         }
        },
        "type": "object"
       }
      },
      "text/markdown": {
       "schema": {
        "type": "string"
       }
      },
      "text/plain": {
       "schema": {
        "type": "string"
       }
      }
     },
     "required": true
    },
    "responses": {
     "202": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Ingestion"
        }
       }
      },
      "description": "accepted"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "413": {
      "$ref": "#/components/responses/Error"
     },
     "429": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Replace a document's text (keeps its id)"
   }
  },
  "/v1/embeddings": {
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "dimensions": {
          "type": "integer"
         },
         "encoding_format": {
          "enum": [
           "float",
           "base64"
          ],
          "type": "string"
         },
         "input": {
          "oneOf": [
           {
            "type": "string"
           },
           {
            "items": {
             "type": "string"
            },
            "type": "array"
           },
           {
            "items": {
             "type": "integer"
            },
            "type": "array"
           },
           {
            "items": {
             "items": {
              "type": "integer"
             },
             "type": "array"
            },
            "type": "array"
           }
          ]
         },
         "model": {
          "type": "string"
         }
        },
        "required": [
         "input"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "data": {
           "items": {
            "properties": {
             "embedding": {
              "oneOf": [
               {
                "items": {
                 "type": "number"
                },
                "type": "array"
               },
               {
                "type": "string"
               }
              ]
             },
             "index": {
              "type": "integer"
             },
             "object": {
              "type": "string"
             }
            },
            "type": "object"
           },
           "type": "array"
          },
          "model": {
           "type": "string"
          },
          "object": {
           "type": "string"
          },
          "usage": {
           "properties": {
            "prompt_tokens": {
             "type": "integer"
            },
            "total_tokens": {
             "type": "integer"
            }
           },
           "type": "object"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "the embeddings"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "501": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Embeddings from the model's hidden states (mean of the final-normed states over the tokens, BOS left out, unit length)"
   }
  },
  "/v1/models": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "data": {
           "items": {
            "$ref": "#/components/schemas/Model"
           },
           "type": "array"
          },
          "object": {
           "type": "string"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "models"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "The served model"
   }
  },
  "/v1/models/{id}": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Model"
        }
       }
      },
      "description": "model"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "One model"
   }
  },
  "/v1/retrieve": {
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "include_text": {
          "type": "boolean"
         },
         "k": {
          "type": "integer"
         },
         "query": {
          "type": "string"
         },
         "retriever": {
          "description": "bm25 (full-text), dense (all-MiniLM-L6-v2 cosine), hybrid (0.5 BM25 score over the best + 0.5 cosine); default: the server's memory.retriever",
          "enum": [
           "bm25",
           "dense",
           "hybrid"
          ],
          "type": "string"
         }
        },
        "required": [
         "query"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "data": {
           "items": {
            "properties": {
             "bm25_score": {
              "description": "BM25's score (null: BM25 did not find it)",
              "type": [
               "number",
               "null"
              ]
             },
             "cosine": {
              "description": "the embedding cosine (dense, hybrid)",
              "type": [
               "number",
               "null"
              ]
             },
             "document_id": {
              "type": "integer"
             },
             "document_title": {
              "type": "string"
             },
             "rank": {
              "type": "integer"
             },
             "reference_id": {
              "type": "integer"
             },
             "score": {
              "type": "number"
             },
             "text": {
              "type": "string"
             }
            },
            "type": "object"
           },
           "type": "array"
          },
          "k": {
           "type": "integer"
          },
          "object": {
           "type": "string"
          },
          "query": {
           "type": "string"
          },
          "retriever": {
           "type": "string"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "ranked references"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "What the retriever would pick for a query"
   }
  }
 },
 "security": [
  {
   "bearer": []
  }
 ],
 "servers": [
  {
   "url": "http://127.0.0.1:8080"
  }
 ]
}
"""#
}
