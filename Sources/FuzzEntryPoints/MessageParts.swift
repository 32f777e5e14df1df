/// How a fuzz input stands for a multi-part ZeroMQ message: the parts one after another, each
/// followed by `separator`. The separator is text, so seed files stay readable and a fuzzer that
/// splices inputs keeps whole parts together.
enum MessageParts {
    /// Ends each part.
    static let separator: [UInt8] = Array("\n--part--\n".utf8)

    /// The parts of `input`; the bytes after the last separator are a last part when not empty.
    static func split(_ input: UnsafeRawBufferPointer) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var start = 0
        var index = 0
        let count = input.count
        let width = separator.count
        while index + width <= count {
            if matchesSeparator(input, at: index) {
                parts.append(Array(input[start..<index]))
                index += width
                start = index
            } else {
                index += 1
            }
        }
        if start < count { parts.append(Array(input[start..<count])) }
        return parts
    }

    /// The input that `split` turns into `parts`.
    static func join(_ parts: [[UInt8]]) -> [UInt8] {
        parts.flatMap { $0 + separator }
    }

    private static func matchesSeparator(_ input: UnsafeRawBufferPointer, at index: Int) -> Bool {
        for (offset, byte) in separator.enumerated() where input[index + offset] != byte { return false }
        return true
    }
}
