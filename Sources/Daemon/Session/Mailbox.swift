import Synchronization

/// A queue of messages from many senders to one receiver, with a receive that can wait until a
/// deadline. What the decision stage reads its inputs from: frames logged, analyses, commands
/// acknowledged and finished, retraining reports.
final class Mailbox<Message: Sendable>: Sendable {
    private struct State {
        var messages: [Message] = []
        var head = 0
        var waiter: CheckedContinuation<Message?, Never>?
        var finished = false

        mutating func take() -> Message? {
            guard head < messages.count else { return nil }
            defer {
                head += 1
                if head > 1024 && head * 2 > messages.count {
                    messages.removeFirst(head)
                    head = 0
                }
            }
            return messages[head]
        }
    }

    private let state = Mutex(State())

    /// Adds a message (dropped once the mailbox is finished).
    func send(_ message: Message) {
        let waiter = state.withLock { state -> CheckedContinuation<Message?, Never>? in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.messages.append(message)
            return nil
        }
        waiter?.resume(returning: message)
    }

    /// No more messages: a waiting receive returns nil, and later ones once the queue is empty.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Message?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next message without waiting.
    func poll() -> Message? { state.withLock { $0.take() } }

    /// The next message, waiting until `deadline` (nil: as long as it takes); nil at the deadline,
    /// when the mailbox is finished and empty, or when the task is cancelled.
    func receive(until deadline: ContinuousClock.Instant?) async -> Message? {
        if let message = poll() { return message }
        guard let deadline else { return await waitForNext() }
        return await withTaskGroup(of: Message?.self) { group in
            group.addTask { await self.waitForNext() }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            var received = await group.next() ?? nil
            group.cancelAll()
            // The other child may still hand over a message that arrived as the wait ended.
            while let other = await group.next() {
                if let other {
                    if received == nil { received = other } else { sendFront(other) }
                }
            }
            return received
        }
    }

    private func sendFront(_ message: Message) {
        state.withLock { state in
            if state.head > 0 {
                state.head -= 1
                state.messages[state.head] = message
            } else {
                state.messages.insert(message, at: 0)
            }
        }
    }

    private func waitForNext() async -> Message? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Message?, Never>) in
                let ready = state.withLock { state -> (Message?, Bool) in
                    if let message = state.take() { return (message, true) }
                    if state.finished || Task.isCancelled { return (nil, true) }
                    state.waiter = continuation
                    return (nil, false)
                }
                if ready.1 { continuation.resume(returning: ready.0) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Message?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
