import CFFTW3
import COpenBLAS
import CSQLite3
import CZeroMQ
import Foundation
import Testing

/// The four C libraries are linked and behave: each computes something whose answer is known.
@Suite("C system libraries")
struct SystemLibrariesTests {
    @Test("OpenBLAS sgemm multiplies matrices")
    func sgemm() {
        scopepilot_openblas_set_threads(1)
        // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50], row-major.
        let a: [Float] = [1, 2, 3, 4]
        let b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        #expect(c == [19, 22, 43, 50])
    }

    @Test("FFTW single precision finds the frequency of a cosine")
    func fftw() {
        let n = 64
        let input = fftwf_alloc_real(n)!
        let output = fftwf_alloc_complex(n / 2 + 1)!
        defer {
            fftwf_free(input)
            fftwf_free(output)
        }
        let plan = fftwf_plan_dft_r2c_1d(Int32(n), input, output, UInt32(FFTW_ESTIMATE))
        defer { fftwf_destroy_plan(plan) }
        for i in 0..<n { input[i] = cos(2 * .pi * 5 * Float(i) / Float(n)) }
        fftwf_execute(plan)
        let magnitudes = (0...(n / 2)).map { k in hypot(output[k].0, output[k].1) }
        #expect(magnitudes.firstIndex(of: magnitudes.max()!) == 5)
        #expect(abs(magnitudes[5] - Float(n) / 2) < 1e-3)
        #expect(String(cString: scopepilot_fftwf_version()).hasPrefix("fftw-3"))
    }

    @Test("SQLite stores and reads back a row in WAL mode")
    func sqlite() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-\(UUID().uuidString).db")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        var db: OpaquePointer?
        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        defer { sqlite3_close(db) }
        #expect(sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x TEXT);", nil, nil, nil) == SQLITE_OK)
        var statement: OpaquePointer?
        #expect(sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?)", -1, &statement, nil) == SQLITE_OK)
        sqlite3_bind_text(statement, 1, "frame 7", -1, scopepilot_sqlite_transient())
        #expect(sqlite3_step(statement) == SQLITE_DONE)
        sqlite3_finalize(statement)
        #expect(sqlite3_prepare_v2(db, "SELECT x FROM t", -1, &statement, nil) == SQLITE_OK)
        #expect(sqlite3_step(statement) == SQLITE_ROW)
        #expect(String(cString: sqlite3_column_text(statement, 0)) == "frame 7")
        sqlite3_finalize(statement)
    }

    @Test("libzmq is 4.x and has CURVE")
    func zmq() {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        #expect(major == 4)
        #expect(zmq_has("curve") != 0)
    }
}
