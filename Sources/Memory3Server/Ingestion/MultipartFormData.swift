/// A `multipart/form-data` body (RFC 7578) split into its parts.
struct MultipartFormData {
    struct Part {
        var headers: HTTPHeaders
        var body: ArraySlice<UInt8>

        /// `name` and `filename` from Content-Disposition.
        var name: String? { dispositionParameter("name") }
        var filename: String? { dispositionParameter("filename") }

        func dispositionParameter(_ key: String) -> String? {
            guard let disposition = headers["Content-Disposition"] else { return nil }
            for parameter in disposition.split(separator: ";").dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingHTTPWhitespace() }
                guard pair.count == 2, pair[0].lowercased() == key else { continue }
                var value = pair[1]
                if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                return value
            }
            return nil
        }
    }

    let parts: [Part]

    /// The boundary parameter of a multipart Content-Type.
    static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingHTTPWhitespace() }
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty || value.utf8.count > 70 ? nil : value
        }
        return nil
    }

    init(body: [UInt8], boundary: String) throws(APIError) {
        let delimiter = Array(("--" + boundary).utf8)
        let malformed = APIError.invalidRequest("the multipart/form-data body is malformed")
        guard var position = Self.find(delimiter, in: body, from: 0) else { throw malformed }
        var parts: [Part] = []
        while true {
            position += delimiter.count
            // "--" after a delimiter ends the body.
            if body.count >= position + 2 && body[position] == 0x2D && body[position + 1] == 0x2D { break }
            guard body.count >= position + 2, body[position] == 0x0D, body[position + 1] == 0x0A else { throw malformed }
            position += 2
            guard let headerEnd = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: body, from: position - 2) else { throw malformed }
            var headers = HTTPHeaders()
            if headerEnd > position - 2 {
                for line in body[position ..< headerEnd].split(separator: 0x0A) {
                    let trimmed = line.last == 0x0D ? line.dropLast() : line
                    guard !trimmed.isEmpty else { continue }
                    guard let (name, value) = try? HTTPRequestParser.parseHeaderLine(trimmed) else { throw malformed }
                    headers.add(name, value)
                }
            }
            let contentStart = headerEnd + 4
            guard let next = Self.find([0x0D, 0x0A] + delimiter, in: body, from: contentStart) else { throw malformed }
            parts.append(Part(headers: headers, body: body[contentStart ..< next]))
            position = next + 2
        }
        self.parts = parts
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start >= 0 else { return nil }
        var i = start
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == needle[0] && haystack[i ..< i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
