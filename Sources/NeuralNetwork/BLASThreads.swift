import COpenBLAS
import Synchronization

/// OpenBLAS runs on one thread: this machine's two vCPUs give about one core of floating point
/// (a second thread measured no faster), and one thread keeps every sum in the same order, so
/// training repeats exactly.
public enum BLASThreads {
    private static let pinned = Mutex(false)

    /// Pins OpenBLAS to one thread, once per process.
    public static func pinOnce() {
        pinned.withLock { done in
            guard !done else { return }
            scopepilot_openblas_set_threads(1)
            done = true
        }
    }
}
