public import Foundation

/// Why a safetensors file could not be read or written.
public struct SafeTensorsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable { case unreadable, unwritable, format }
        private let kind: Kind

        /// The file cannot be read.
        public static let unreadable = Code(kind: .unreadable)
        /// The file cannot be written.
        public static let unwritable = Code(kind: .unwritable)
        /// The file is not a safetensors file this build takes (the problem says what).
        public static let format = Code(kind: .format)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code

    /// The file.
    public let path: String
    /// What is wrong.
    public let problem: String

    /// Creates an error.
    public init(_ code: Code = .format, path: String, problem: String) {
        self.code = code
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}

/// The safetensors format (as written by the `safetensors` package and PyTorch tooling): an 8-byte
/// little-endian header length, a JSON header naming each tensor's dtype, shape and byte range, then
/// the raw little-endian data. ScopePilot stores float32 (`F32`) tensors.
public enum SafeTensors {
    /// One named tensor.
    public struct Entry: Sendable, Equatable {
        /// Its shape, e.g. `[out, in, k, k]`.
        public var shape: [Int]
        /// Its values, row-major.
        public var values: [Float]

        /// Creates an entry.
        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    /// Writes `tensors` (in name order) and string `metadata`.
    public static func write(
        _ tensors: [String: Entry], metadata: [String: String] = [:], to url: URL
    ) throws(SafeTensorsError) {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, entry) in tensors.sorted(by: { $0.key < $1.key }) {
            guard entry.shape.reduce(1, *) == entry.values.count else {
                throw SafeTensorsError(
                    path: url.path,
                    problem: "tensor \(name): shape \(entry.shape) does not hold \(entry.values.count) values")
            }
            header[name] = [
                "dtype": "F32", "shape": entry.shape, "data_offsets": [offset, offset + 4 * entry.values.count],
            ]
            offset += 4 * entry.values.count
        }
        var json: Data
        do { json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]) } catch {
            throw SafeTensorsError(.unwritable, path: url.path, problem: "cannot encode the header: \(error)")
        }
        // Pad the header with spaces so that the data starts 8-byte aligned.
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, entry) in tensors.sorted(by: { $0.key < $1.key }) {
            for value in entry.values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) }
            }
        }
        do { try out.write(to: url) } catch {
            throw SafeTensorsError(.unwritable, path: url.path, problem: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Reads every tensor and the metadata. Refuses dtypes other than F32 with the reason.
    public static func read(
        _ url: URL
    ) throws(SafeTensorsError) -> (tensors: [String: Entry], metadata: [String: String]) {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(path: url.path, problem: problem) }
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch {
            throw SafeTensorsError(
                .unreadable, path: url.path, problem: "cannot read the file: \(error.localizedDescription)")
        }
        guard bytes.count >= 8 else { throw fail("too short to be a safetensors file") }
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard headerLength > 0, headerLength <= 100_000_000, 8 + headerLength <= bytes.count else {
            throw fail("header length \(headerLength) does not fit the file (\(bytes.count) bytes)")
        }
        guard
            let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any]
        else {
            throw fail("the header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor \(name): the header entry needs dtype, shape and data_offsets") }
            guard dtype == "F32" else {
                throw fail(
                    "tensor \(name) is \(dtype); ScopePilot reads float32 (F32) weights: convert with tensor.float()")
            }
            let count = shape.reduce(1, *)
            guard offsets[0] >= 0, offsets[1] - offsets[0] == 4 * count, dataStart + offsets[1] <= bytes.count else {
                throw fail(
                    "tensor \(name): byte range \(offsets) does not match shape \(shape) or lies beyond the file")
            }
            let values = bytes.withUnsafeBytes { raw in
                (0..<count).map { i in
                    Float(
                        bitPattern: UInt32(
                            littleEndian: raw.loadUnaligned(
                                fromByteOffset: dataStart + offsets[0] + 4 * i, as: UInt32.self)))
                }
            }
            tensors[name] = Entry(shape: shape, values: values)
        }
        return (tensors, metadata)
    }

    /// Saves named parameters.
    public static func save(
        _ parameters: [String: Parameter], metadata: [String: String] = [:], to url: URL
    ) throws(SafeTensorsError) {
        try save(state: parameters.mapValues { .parameter($0) }, metadata: metadata, to: url)
    }

    /// Saves a model's state (parameters and buffers).
    public static func save(
        state: [String: StateTensor], metadata: [String: String] = [:], to url: URL
    ) throws(SafeTensorsError) {
        try write(state.mapValues { Entry(shape: $0.shape, values: $0.values) }, metadata: metadata, to: url)
    }

    /// Loads a file into named parameters: every parameter must be in the file with its shape, and
    /// the file must hold nothing else. Returns the metadata.
    @discardableResult
    public static func load(
        _ url: URL, into parameters: [String: Parameter]
    ) throws(SafeTensorsError) -> [String: String] {
        try load(url, into: parameters.mapValues { .parameter($0) })
    }

    /// Loads a file into a model's state. Every name and shape is checked before anything is
    /// assigned, so a file that does not fit leaves the model as it was.
    @discardableResult
    public static func load(
        _ url: URL, into state: [String: StateTensor]
    ) throws(SafeTensorsError) -> [String: String] {
        let (tensors, metadata) = try read(url)
        let missing = Set(state.keys).subtracting(tensors.keys).sorted()
        let unexpected = Set(tensors.keys).subtracting(state.keys).sorted()
        guard missing.isEmpty, unexpected.isEmpty else {
            throw SafeTensorsError(
                path: url.path,
                problem: "the file does not match this model: missing \(missing), unexpected \(unexpected)")
        }
        for (name, tensor) in state {
            guard let stored = tensors[name], stored.shape == tensor.shape else {
                throw SafeTensorsError(
                    path: url.path,
                    problem: "tensor \(name) has shape \(tensors[name]?.shape ?? []), the model needs \(tensor.shape)")
            }
        }
        for (name, tensor) in state { if let stored = tensors[name] { tensor.assign(stored.values) } }
        return metadata
    }
}
