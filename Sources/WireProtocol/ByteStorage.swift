public import Foundation

/// Read-only bytes that can cross concurrency domains without being copied.
///
/// Message parts are passed around as `any ByteStorage`, so a pixel part received by the transport
/// stays in the buffer it arrived in until the last reader lets go of it.
public protocol ByteStorage: Sendable {
    /// The number of bytes.
    var byteCount: Int { get }
    /// Calls `body` with the bytes; the pointer is valid only during the call.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

/// A fixed-size value whose array can be sent as raw bytes: `[UInt8]`, `[UInt16]`, `[Float]`.
public protocol WireScalar: BitwiseCopyable, Sendable {}
extension UInt8: WireScalar {}
extension UInt16: WireScalar {}
extension Float: WireScalar {}

extension Array: ByteStorage where Element: WireScalar {
    public var byteCount: Int { count * MemoryLayout<Element>.stride }
}

extension Data: ByteStorage {
    public var byteCount: Int { count }
}

extension ByteStorage {
    /// A copy of the bytes as an array.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Whether the bytes equal the UTF-8 encoding of `text`.
    public func equals(utf8 text: String) -> Bool {
        withUnsafeBytes { buffer in
            var text = text
            return text.withUTF8 { utf8 in
                guard utf8.count == buffer.count else { return false }
                guard let expected = utf8.baseAddress, let actual = buffer.baseAddress else { return buffer.isEmpty }
                return memcmp(expected, actual, buffer.count) == 0
            }
        }
    }
}
