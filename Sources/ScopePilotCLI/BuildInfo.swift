import CFFTW3
import COpenBLAS
import CSQLite3
import Foundation
import Transport
import WireProtocol

/// Versions of ScopePilot, its protocol and the C libraries it is linked with.
enum BuildInfo {
    static let version = "0.1.0"

    static var libraries: [(String, String)] {
        [
            ("wire protocol", ProtocolVersion.current.description),
            ("libzmq", ZMQContext.libraryVersion + (ZMQContext.hasCurve ? " (CURVE)" : " (no CURVE)")),
            ("OpenBLAS", String(cString: openblas_get_config()).trimmingCharacters(in: .whitespaces)),
            ("FFTW", String(cString: scopepilot_fftwf_version())),
            ("SQLite", String(cString: sqlite3_libversion())),
        ]
    }
}
