import PolicyKit
import Transport

/// The daemon's two sockets to a driver and their ZeroMQ context, opened together and closed
/// together on every way out of a session.
struct DriverConnections: Sendable {
    let context: ZMQContext
    let subscriber: FeedSubscriber
    let client: CommandClient

    /// Connects to the driver's feed and command channel.
    static func open(_ configuration: DaemonConfiguration) async throws -> DriverConnections {
        do {
            let context = try ZMQContext()
            // Sized for the largest frame the envelope allows: a larger part is refused by ZeroMQ
            // unread, on the feed and on the command channel (which carries re-sent frames).
            var feedOptions = FeedSubscriber.options(largestSide: configuration.policy.envelope.pixels.upperBound)
            feedOptions.security = configuration.security
            var controlOptions = CommandClient.defaultOptions
            controlOptions.security = configuration.security
            controlOptions.maxMessageSize = feedOptions.maxMessageSize
            let subscriber = try await FeedSubscriber(
                connectingTo: configuration.feed, context: context, options: feedOptions)
            do {
                let client = try await CommandClient(
                    connectingTo: configuration.control, context: context, options: controlOptions)
                return DriverConnections(context: context, subscriber: subscriber, client: client)
            } catch {
                await subscriber.close()
                throw error
            }
        } catch {
            throw DaemonError(.transport, "cannot connect to the driver: \(error)")
        }
    }

    /// Runs `body` with open connections and closes them afterwards, whether it returns or throws.
    static func with<T: Sendable>(
        _ configuration: DaemonConfiguration, _ body: (DriverConnections) async throws -> T
    ) async throws -> T {
        let connections = try await open(configuration)
        do {
            let result = try await body(connections)
            await connections.close()
            return result
        } catch {
            await connections.close()
            throw error
        }
    }

    /// Stops heartbeats and closes both sockets.
    func close() async {
        await client.close()
        await subscriber.close()
    }
}
