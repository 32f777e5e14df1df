import CZlib

/// The lossless compressions image files use: zlib's deflate (TIFF's "Adobe deflate", PNG), TIFF's
/// LZW and Apple's PackBits. Each decodes at most `expected` bytes and says what went wrong in a
/// sentence; none trusts the sizes a file claims.
enum Decompression {
    /// Why a compressed block could not be decoded.
    struct Failure: Error { let problem: String }

    /// Inflates a zlib stream (deflate with the zlib header and checksum) into at most `expected` bytes.
    static func inflate(_ input: ArraySlice<UInt8>, expected: Int) throws(Failure) -> [UInt8] {
        guard expected > 0 else { return [] }
        var output = [UInt8](repeating: 0, count: expected)
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(problem: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var source = Array(input)
        let status = source.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = UInt32(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = UInt32(outBuffer.count)
                var status: Int32 = Z_OK
                while status == Z_OK && stream.avail_out > 0 { status = CZlib.inflate(&stream, Z_NO_FLUSH) }
                return status
            }
        }
        // A stream that fills the output before its end is fine: the rest is padding some writers add.
        guard status == Z_STREAM_END || status == Z_OK || (status == Z_BUF_ERROR && stream.avail_out == 0) else {
            let detail = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
            throw Failure(problem: "the deflate data is corrupt (\(detail))")
        }
        output.removeLast(Int(stream.avail_out))
        return output
    }

    /// Compresses `input` into a zlib stream (deflate, at `level`: 1 fastest ... 9 smallest).
    static func deflate(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8] {
        var length = compressBound(UInt(input.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        let status = compress2(&output, &length, input, UInt(input.count), level)
        precondition(status == Z_OK, "zlib compress2 failed (\(status)) with an output buffer of compressBound")
        output.removeLast(output.count - Int(length))
        return output
    }

    /// Decodes TIFF's LZW (codes of 9 to 12 bits, most significant bit first, the code width
    /// growing one code early as libtiff writes it).
    static func lzw(_ input: ArraySlice<UInt8>, expected: Int) throws(Failure) -> [UInt8] {
        let clear = 256
        let end = 257
        let bytes = Array(input)
        // Old-style (pre-TIFF 6) LZW is least significant bit first and starts 0x00 0x01; it is not read.
        if bytes.count >= 2, bytes[0] == 0, bytes[1] & 1 == 1 {
            throw Failure(
                problem: "old-style LZW (before TIFF 6.0) is not read; save the file again with any current tool")
        }
        var output: [UInt8] = []
        output.reserveCapacity(expected)
        // Each code's string is a prefix code plus one byte; strings are rebuilt into `scratch`.
        var prefix = [Int](repeating: -1, count: 4096)
        var suffix = [UInt8](repeating: 0, count: 4096)
        var first = [UInt8](repeating: 0, count: 4096)
        var lengths = [Int](repeating: 1, count: 4096)
        for code in 0..<256 {
            suffix[code] = UInt8(code)
            first[code] = UInt8(code)
        }
        var next = 258
        var width = 9
        var previous = -1
        var bitBuffer = 0
        var bitCount = 0
        var position = 0
        var scratch = [UInt8](repeating: 0, count: 4096)

        func emit(_ code: Int) {
            let length = lengths[code]
            var c = code
            var i = length - 1
            while i >= 0 {
                scratch[i] = suffix[c]
                c = prefix[c]
                i -= 1
            }
            output.append(contentsOf: scratch[0..<length])
        }

        while output.count < expected {
            while bitCount < width {
                guard position < bytes.count else { return output }  // ran out: the caller checks the length
                bitBuffer = (bitBuffer << 8) | Int(bytes[position])
                position += 1
                bitCount += 8
            }
            let code = (bitBuffer >> (bitCount - width)) & ((1 << width) - 1)
            bitCount -= width
            bitBuffer &= (1 << bitCount) - 1
            if code == clear {
                next = 258
                width = 9
                previous = -1
                continue
            }
            if code == end { break }
            if previous < 0 {
                guard code < 256 else { throw Failure(problem: "the LZW data is corrupt (code \(code) after a reset)") }
                emit(code)
                previous = code
                continue
            }
            guard code <= next, code < 4096 else {
                throw Failure(problem: "the LZW data is corrupt (code \(code) with \(next) defined)")
            }
            // The new string is the previous one plus the first byte of this one (or of itself, for
            // the code being defined now). A full table adds nothing until the next reset.
            if next < 4096 {
                let firstByte = code < next ? first[code] : first[previous]
                prefix[next] = previous
                suffix[next] = firstByte
                first[next] = first[previous]
                lengths[next] = lengths[previous] + 1
                next += 1
            }
            emit(code)
            previous = code
            if next + 1 >= 1 << width && width < 12 { width += 1 }
        }
        if output.count > expected { output.removeLast(output.count - expected) }
        return output
    }

    /// Decodes PackBits: a header byte n then n + 1 literal bytes (n 0 ... 127) or one byte
    /// repeated 1 - n times (n -127 ... -1); -128 is skipped.
    static func packBits(_ input: ArraySlice<UInt8>, expected: Int) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(expected)
        var i = input.startIndex
        while i < input.endIndex && output.count < expected {
            let n = Int(Int8(bitPattern: input[i]))
            i += 1
            if n >= 0 {
                guard i + n + 1 <= input.endIndex else { throw Failure(problem: "the PackBits data is truncated") }
                output.append(contentsOf: input[i..<(i + n + 1)])
                i += n + 1
            } else if n != -128 {
                guard i < input.endIndex else { throw Failure(problem: "the PackBits data is truncated") }
                output.append(contentsOf: repeatElement(input[i], count: 1 - n))
                i += 1
            }
        }
        if output.count > expected { output.removeLast(output.count - expected) }
        return output
    }
}
