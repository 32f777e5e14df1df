import CFFTW3
import Synchronization

/// FFTW's planner is not thread safe: every plan is made and destroyed under this lock. Executing
/// a plan on arrays of its own is thread safe and needs no lock.
enum FFTWPlanner {
    private static let lock = Mutex(())

    static func withLock<R>(_ body: () -> R) -> R {
        lock.withLock { _ in body() }
    }
}
