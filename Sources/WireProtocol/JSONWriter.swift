import Foundation

/// Writes JSON text, keys sorted, from Swift's own values (dictionaries, arrays, strings, whole
/// numbers, finite doubles, booleans, `NSNull`): the policy protocol's observations and the log's
/// JSON export.
///
/// Foundation's `JSONSerialization` takes about 10 ms for an observation of a survey frame on
/// Linux (it bridges every value to an `NSObject`), which alone would be three times the policy
/// protocol's latency budget; this writer takes a few hundred microseconds for the same message.
public enum JSONWriter {
    /// The JSON of `value`, or nil when it holds something JSON cannot carry (a non-finite
    /// number, a type this writer does not know).
    public static func data(_ value: Any) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(16_384)
        return write(value, into: &out) ? out : nil
    }

    /// Appends `value`'s JSON to `out`; false (and `out` partly written) when JSON cannot carry it.
    public static func write(_ value: Any, into out: inout [UInt8]) -> Bool {
        // Exact types first: on some platforms a boxed number also casts to Bool and back.
        switch value {
        case let string as String:
            writeString(string, into: &out)
        case let object as [String: Any]:
            out.append(UInt8(ascii: "{"))
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                guard let item = object[key], write(item, into: &out) else { return false }
            }
            out.append(UInt8(ascii: "}"))
        case let array as [Any]:
            out.append(UInt8(ascii: "["))
            for (index, item) in array.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                guard write(item, into: &out) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case is NSNull:
            out.append(contentsOf: "null".utf8)
        default:
            return writeScalar(value, into: &out)
        }
        return true
    }

    private static func writeScalar(_ value: Any, into out: inout [UInt8]) -> Bool {
        let type = Swift.type(of: value)
        if type == Bool.self, let bool = value as? Bool {
            out.append(contentsOf: (bool ? "true" : "false").utf8)
        } else if type == Int.self, let int = value as? Int {
            out.append(contentsOf: String(int).utf8)
        } else if type == UInt64.self, let int = value as? UInt64 {
            out.append(contentsOf: String(int).utf8)
        } else if type == Int32.self, let int = value as? Int32 {
            out.append(contentsOf: String(int).utf8)
        } else if type == Double.self, let double = value as? Double {
            guard double.isFinite else { return false }
            // Swift's shortest round-trip form ("0.1", "1e-05", "100.0") is valid JSON.
            out.append(contentsOf: "\(double)".utf8)
        } else if type == Float.self, let float = value as? Float {
            guard float.isFinite else { return false }
            out.append(contentsOf: "\(Double(float))".utf8)
        } else {
            return false
        }
        return true
    }

    /// Appends `string` as a JSON string, escaped.
    public static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
