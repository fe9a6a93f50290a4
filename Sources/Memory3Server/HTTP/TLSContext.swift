import COpenSSL
import Foundation

/// A certificate and key that cannot be served, with the OpenSSL reason.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }

    init(_ what: String) {
        message = "\(what)\(TLSError.openSSLReasons())"
    }

    /// Takes and formats the calling thread's OpenSSL error queue (it is per thread, and stale
    /// entries would be blamed on the next call).
    static func openSSLReasons() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? "" : " (" + reasons.joined(separator: "; ") + ")"
    }
}

/// The server's TLS settings: one OpenSSL context with the certificate chain and private key,
/// TLS 1.2 and newer. Each accepted connection gets its own session from it.
public final class TLSContext: @unchecked Sendable {
    /// Immutable after init; OpenSSL allows sessions to be made from it on any thread.
    let context: OpaquePointer

    /// Loads a PEM certificate chain and its PEM private key; throws if either is unreadable or
    /// they do not belong together.
    public init(certificatePath: String, keyPath: String) throws {
        ERR_clear_error()
        for (path, what) in [(certificatePath, "tls.cert"), (keyPath, "tls.key")] {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw TLSError("\(what) '\(path)' does not exist or cannot be read")
            }
        }
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError("cannot make a TLS context") }
        self.context = context
        guard m3_ssl_ctx_set_min_tls12(context) == 1 else { throw TLSError("cannot require TLS 1.2") }
        _ = m3_ssl_ctx_set_server_modes(context)
        guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
            throw TLSError("tls.cert '\(certificatePath)' is not a PEM certificate chain")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) == 1 else {
            // OpenSSL checks the pair as it loads the key: say which of the two went wrong.
            if ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH {
                throw TLSError("tls.key '\(keyPath)' does not match the certificate in '\(certificatePath)'")
            }
            throw TLSError("tls.key '\(keyPath)' is not a PEM private key")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError("tls.key '\(keyPath)' does not match the certificate in '\(certificatePath)'")
        }
    }

    deinit { SSL_CTX_free(context) }

    /// A server-side session over an accepted socket (the handshake happens on first read).
    func session(fd: Int32) -> TLSSession? {
        guard let ssl = SSL_new(context) else { return nil }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            return nil
        }
        SSL_set_accept_state(ssl)
        return TLSSession(ssl: ssl)
    }
}

/// One connection's TLS state. Owned like its `Connection`: by the event loop or by one
/// request thread at a time, never both.
final class TLSSession: @unchecked Sendable {
    let ssl: OpaquePointer
    private(set) var handshakeDone = false
    /// close_notify was sent; what still arrives is drained raw and dropped.
    private(set) var closing = false
    /// The last call stopped because the socket must become writable first.
    private(set) var wantsWrite = false

    init(ssl: OpaquePointer) { self.ssl = ssl }

    deinit { SSL_free(ssl) }

    enum Step { case done, wouldBlock, failed(String) }

    /// Advances the handshake as far as the socket allows.
    func handshake() -> Step {
        guard !handshakeDone else { return .done }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            handshakeDone = true
            wantsWrite = false
            return .done
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: wantsWrite = false; return .wouldBlock
        case SSL_ERROR_WANT_WRITE: wantsWrite = true; return .wouldBlock
        default:
            let reasons = TLSError.openSSLReasons()
            return .failed("TLS handshake failed" + (reasons.isEmpty ? " (the client closed or spoke something else)" : reasons))
        }
    }

    /// Reads decrypted bytes (after the handshake).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Socket.ReadResult {
        ERR_clear_error()
        var count = 0
        if SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count) == 1 {
            wantsWrite = false
            return .data(count)
        }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ: wantsWrite = false; return .wouldBlock
        case SSL_ERROR_WANT_WRITE: wantsWrite = true; return .wouldBlock
        default: return .closed  // close_notify, reset, or a protocol error
        }
    }

    /// Writes some of `bytes` without blocking: the count written, 0 when the socket must
    /// become ready first (`wantsWrite` says for which), nil when the connection failed.
    func write(_ bytes: UnsafeRawBufferPointer) -> Int? {
        ERR_clear_error()
        var count = 0
        if SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count) == 1 {
            wantsWrite = false
            return count
        }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_WRITE: wantsWrite = true; return 0
        case SSL_ERROR_WANT_READ: wantsWrite = false; return 0
        default: return nil
        }
    }

    /// Decrypted or undecrypted bytes OpenSSL holds that poll(2) cannot see.
    var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    /// Sends close_notify (best effort, never waits).
    func sendCloseNotify() {
        guard handshakeDone, !closing else { return }
        closing = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }
}
