import Foundation

/// A text file read for ingestion: its bytes checked (size, NUL bytes, UTF-8) and its text.
public struct DocumentFile: Sendable {
    public let path: String
    public let bytes: [UInt8]
    public let text: String
    public let format: TextFormat

    /// Reads and validates `path`, refusing it (without reading) when over `maxBytes`.
    public static func read(path: String, maxBytes: Int) throws(IngestFileError) -> DocumentFile {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw errno == ENOENT ? .notFound : .unreadable(String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .unreadable("not a regular file") }
        guard Int(info.st_size) <= maxBytes else { throw .tooLarge(bytes: Int(info.st_size), limit: maxBytes) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        let data: Data
        do {
            // One byte more than allowed, in case the file grew since stat.
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw .unreadable(error.localizedDescription)
        }
        guard data.count <= maxBytes else { throw .tooLarge(bytes: data.count, limit: maxBytes) }
        let bytes = [UInt8](data)
        let text = try validate(bytes)
        return DocumentFile(path: path, bytes: bytes, text: text,
                            format: TextFormat(pathExtension: (path as NSString).pathExtension))
    }

    /// The text of `bytes`, or why it is not a text document.
    public static func validate(_ bytes: [UInt8]) throws(IngestFileError) -> String {
        guard !bytes.isEmpty else { throw .empty }
        if let nul = bytes.firstIndex(of: 0) { throw .binary(offset: nul) }
        if let bad = firstInvalidUTF8(bytes) { throw .invalidUTF8(offset: bad) }
        guard bytes.contains(where: { !TextSegmentation.isSpace($0) }) else { throw .noText }
        // Skip a UTF-8 byte order mark.
        let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        return String(decoding: bytes[start...], as: UTF8.self)
    }

    /// Offset of the first byte that does not belong to a valid UTF-8 sequence, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 { i += 1; continue }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch b {
            case 0xC2 ... 0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1 ... 0xEC, 0xEE ... 0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1 ... 0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return i
            }
            guard i + length <= n else { return i }
            guard bytes[i + 1] >= low && bytes[i + 1] <= high else { return i }
            for k in 2 ..< length where bytes[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }

    /// The files to ingest for the given paths: files as named, folders walked recursively
    /// (hidden entries skipped) for files with one of `extensions`, sorted per folder. Paths that
    /// do not exist are returned as they are, so that the ingest reports them.
    public static func expand(_ paths: [String], extensions: Set<String>) -> [String] {
        var result: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                result.append(path)
                continue
            }
            let root = URL(fileURLWithPath: path)
            guard let walker = fm.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey],
                                             options: [.skipsHiddenFiles]) else { continue }
            var found: [String] = []
            for case let url as URL in walker {
                // Symbolic links to files count (Kubernetes mounts ConfigMap files as links).
                guard extensions.contains(url.pathExtension.lowercased()),
                      (try? url.resolvingSymlinksInPath().resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
                else { continue }
                found.append(url.path)
            }
            result.append(contentsOf: found.sorted())
        }
        return result
    }
}
