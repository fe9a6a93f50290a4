import Foundation
import Memory3Memory
import XCTest

final class DocumentFileExpandTests: XCTestCase {
    func testFolderWalkFollowsSymbolicLinksToFiles() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("expand-\(UUID().uuidString)")
        let real = root.appendingPathComponent("real"), links = root.appendingPathComponent("links")
        try FileManager.default.createDirectory(at: real, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: links, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try "A note.".write(to: real.appendingPathComponent("a.md"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: links.appendingPathComponent("a.md"),
                                                   withDestinationURL: real.appendingPathComponent("a.md"))
        try FileManager.default.createSymbolicLink(at: links.appendingPathComponent("dangling.md"),
                                                   withDestinationURL: real.appendingPathComponent("missing.md"))
        let found = DocumentFile.expand([links.path], extensions: ["md"])
        XCTAssertEqual(found.map { URL(fileURLWithPath: $0).lastPathComponent }, ["a.md"])
    }
}
