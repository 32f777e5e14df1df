import Dispatch
import Foundation

/// Waits for SIGINT or SIGTERM without blocking a thread.
enum SignalWaiter {
    static func waitForTermination() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = Once(continuation)
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { once.resume() }
                source.resume()
                once.keep(source)
            }
        }
    }

    /// Resumes the continuation on the first signal only, and keeps the signal sources alive (they
    /// and their handler refer to each other for the rest of the process).
    private final class Once: @unchecked Sendable {
        // @unchecked Sendable: both stored properties are read and written only under `lock`.
        private let lock = NSLock()
        private var continuation: CheckedContinuation<Void, Never>?
        private var sources: [any DispatchSourceSignal] = []

        init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = continuation }

        func resume() {
            lock.lock()
            let taken = continuation
            continuation = nil
            lock.unlock()
            taken?.resume()
        }

        func keep(_ source: any DispatchSourceSignal) {
            lock.lock()
            sources.append(source)
            lock.unlock()
        }
    }
}
