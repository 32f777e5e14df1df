import Testing

@testable import Dashboard

@Suite("The live view's address and access")
struct DashboardAddressTests {
    @Test("HOST:PORT, :PORT, PORT and [IPv6]:PORT parse; a bare port is loopback")
    func parses() throws {
        let full = try DashboardAddress("0.0.0.0:8080")
        #expect(full.host == "0.0.0.0" && full.port == 8080 && !full.isLoopback)
        let colon = try DashboardAddress(":0")
        #expect(colon.host == "127.0.0.1" && colon.port == 0 && colon.isLoopback)
        let bare = try DashboardAddress("9000")
        #expect(bare.host == "127.0.0.1" && bare.port == 9000)
        let six = try DashboardAddress("[::1]:8080")
        #expect(six.host == "::1" && six.isLoopback && six.description == "[::1]:8080")
        #expect(try DashboardAddress("localhost:1").isLoopback)
        #expect(try !DashboardAddress("scope-pc.lab:8080").isLoopback)
    }

    @Test(
        "A bad address says what a good one looks like",
        arguments: ["host:", "host:99999", "[::1", "[::1]8080", "a b:80"])
    func refuses(_ text: String) {
        #expect {
            _ = try DashboardAddress(text)
        } throws: { error in
            "\(error)".contains("--dashboard \(text)")
        }
    }

    @Test("Loopback needs no token; any other address gets a fresh 128-bit one")
    func tokens() throws {
        #expect(DashboardAccess(for: try DashboardAddress(":0")).token == nil)
        #expect(DashboardAccess(for: try DashboardAddress(":0")).permits(nil))
        let a = DashboardAccess(for: try DashboardAddress("0.0.0.0:0"))
        let b = DashboardAccess(for: try DashboardAddress("0.0.0.0:0"))
        let token = try #require(a.token)
        #expect(token.count == 32 && token.allSatisfy(\.isHexDigit))
        #expect(a.token != b.token)
        #expect(a.permits(token))
        #expect(!a.permits(nil) && !a.permits("") && !a.permits(String(token.dropLast())) && !a.permits(b.token))
    }

    @Test("The Host header's host name, with or without brackets and port")
    func hostNames() {
        #expect(DashboardAddress.host(ofAuthority: "[::1]:8080") == "::1")
        #expect(DashboardAddress.host(ofAuthority: "localhost:8080") == "localhost")
        #expect(DashboardAddress.host(ofAuthority: "127.0.0.1") == "127.0.0.1")
    }
}
