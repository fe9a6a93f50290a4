import Memory3Engine

/// Reads the documents of an upload request: a JSON object `{title, text, source?, format?,
/// external_id?}`, a `text/plain` or `text/markdown` body (title from `?title=` or
/// `X-Document-Title`, key from `?external_id=`), or
/// `multipart/form-data` with one or more files (title = file name).
enum DocumentUploadParser {
    static func documents(in request: HTTPRequest) throws(APIError) -> [UploadedDocument] {
        let contentType = request.headers["Content-Type"] ?? ""
        let type = contentType.split(separator: ";").first.map { $0.trimmingHTTPWhitespace().lowercased() } ?? ""
        let query = QueryParameters(request.head.query)
        switch type {
        case "application/json", "":
            let o = try JSONValue.parseObject(request.body)
            guard let title = try o.string("title") else { throw .invalidRequest("'title' is required", param: "title") }
            guard let text = try o.string("text") else { throw .invalidRequest("'text' is required", param: "text") }
            let format = try o.string("format")
            guard format == nil || format == "markdown" || format == "plain" else {
                throw .invalidRequest("'format' must be \"markdown\" or \"plain\"", param: "format")
            }
            // Markdown unless told otherwise: headings are then carried into the references.
            return [try UploadedDocument(title: title, source: try o.string("source") ?? "upload", bytes: Array(text.utf8),
                                         isMarkdown: format != "plain", externalID: try o.string("external_id"))]
        case "text/plain", "text/markdown", "text/x-markdown":
            let title = query.values["title"] ?? request.headers["X-Document-Title"] ?? "untitled"
            return [try UploadedDocument(title: title, source: query.values["source"] ?? "upload", bytes: request.body,
                                         isMarkdown: type != "text/plain" || UploadedDocument.isMarkdown(filename: title, contentType: nil),
                                         externalID: query.values["external_id"])]
        case "multipart/form-data":
            guard let boundary = MultipartFormData.boundary(of: contentType) else {
                throw .invalidRequest("multipart/form-data needs a boundary parameter")
            }
            let form = try MultipartFormData(body: request.body, boundary: boundary)
            let files = form.parts.filter { $0.filename != nil }
            guard !files.isEmpty else { throw .invalidRequest("the form holds no file part (Content-Disposition with a filename)") }
            return try files.map { part throws(APIError) in
                let name = part.filename ?? "untitled"
                return try UploadedDocument(title: name, source: name, bytes: Array(part.body),
                                            isMarkdown: UploadedDocument.isMarkdown(filename: name, contentType: part.headers["Content-Type"]))
            }
        default:
            throw .unsupportedMediaType(type, accepted: ["application/json", "text/plain", "text/markdown", "multipart/form-data"])
        }
    }
}
