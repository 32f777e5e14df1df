import CLibFuzzer
import FuzzEntryPoints

/// The executable's entry point (SwiftPM links `main` to `FuzzFrame_main`): hands the arguments to
/// libFuzzer's driver, which calls back once per input.
@_cdecl("FuzzFrame_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { FuzzTarget.frame.fuzz($0, $1) }
}
