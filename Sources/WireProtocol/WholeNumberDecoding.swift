extension KeyedDecodingContainer {
    /// Decodes an integer field. Foundation's decoder reports a number that does not fit the type
    /// (negative, fractional, too large) as "not valid JSON" without naming the field; this names
    /// the field and the range instead.
    func decodeWhole<T: FixedWidthInteger & Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        if let value = try? decode(T.self, forKey: key) { return value }
        let number = try decode(Double.self, forKey: key)  // reports a missing key or a non-number
        throw DecodingError.dataCorrupted(
            .init(
                codingPath: codingPath + [key],
                debugDescription: "must be a whole number from \(T.min) to \(T.max), got \(number)"))
    }

    /// `decodeWhole`, for an optional field.
    func decodeWholeIfPresent<T: FixedWidthInteger & Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decodeWhole(T.self, forKey: key)
    }

    /// Decodes an array of integers, naming the field when an element does not fit.
    func decodeWholeArray<T: FixedWidthInteger & Decodable>(_ type: T.Type, forKey key: Key) throws -> [T] {
        if let values = try? decode([T].self, forKey: key) { return values }
        let numbers = try decode([Double].self, forKey: key)
        throw DecodingError.dataCorrupted(
            .init(
                codingPath: codingPath + [key],
                debugDescription: "must hold whole numbers from \(T.min) to \(T.max), got \(numbers)"))
    }

    /// `decodeWholeArray`, for an optional field.
    func decodeWholeArrayIfPresent<T: FixedWidthInteger & Decodable>(_ type: T.Type, forKey key: Key) throws -> [T]? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decodeWholeArray(T.self, forKey: key)
    }
}
