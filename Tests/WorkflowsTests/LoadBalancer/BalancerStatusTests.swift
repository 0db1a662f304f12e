import Foundation
import Testing
import TestSupport
@testable import Workflows

@Suite("Balancer status from haproxy's stats CSV", .tags(.unit))
struct BalancerStatusTests {
    /// The first columns of haproxy 2.6's `;csv` stats, as the stats page serves them.
    static let csv = """
    # pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,
    kube-apiserver,FRONTEND,,,0,2,4000,31,4402,9210,0,0,0,,,,,OPEN,,,,
    kube-apiserver,h1,0,0,0,1,,10,1432,3070,,0,,0,0,0,0,UP,1,1,0,
    kube-apiserver,h2,0,0,0,1,,11,1540,3070,,0,,3,0,1,1,DOWN,1,1,0,
    kube-apiserver,h3,0,0,0,1,,10,1430,3070,,0,,0,0,0,0,UP 1/2,1,1,0,
    kube-apiserver,BACKEND,0,0,0,2,400,31,4402,9210,0,0,,3,0,1,1,UP,2,2,0,
    capstan-stats,FRONTEND,,,1,1,4000,2,0,0,0,0,0,,,,,OPEN,,,,

    """

    @Test("each API server backend with haproxy's state; frontends, backends and other proxies left out")
    func parse() {
        #expect(BalancerStatus.parse(csv: Self.csv) == ["h1": "UP", "h2": "DOWN", "h3": "UP 1/2"])
        #expect(BalancerStatus.parse(csv: "not csv") == [:])
    }

    @Test("text names each node's backends and the virtual IP's holder")
    func text() {
        let status = BalancerStatus(nodes: [.init(host: "h4", backends: ["h2": "DOWN", "h1": "UP"], error: nil),
                                            .init(host: "h5", backends: [:], error: "unreachable")],
                                    virtualIP: "10.0.0.100", vipHolders: ["h1"])
        #expect(status.text == """
        API virtual IP 10.0.0.100: held by h1
        API balancers (node-local haproxy, backends as each sees them):
          h4: h1 UP, h2 DOWN
          h5: unreachable

        """)
    }
}
