/// Namespace for the 9P2000.L codec entry points and protocol constants.
public enum NineP {
    /// Bytes in every frame header: size[4] type[1] tag[2].
    public static let headerSize = 7
    /// The tag a Tversion carries (no other request may use it).
    public static let noTag: UInt16 = 0xFFFF
    /// "No fid", e.g. the afid of a Tattach without authentication.
    public static let noFid: UInt32 = 0xFFFF_FFFF
    /// The most names a Twalk (and qids an Rwalk) may carry (Plan 9's MAXWELEM).
    public static let maxWalkElements = 16
    /// Bytes before the payload of an Rread/Rreaddir: size[4] type[1] tag[2] count[4].
    public static let readHeaderSize: UInt32 = 11
    /// Bytes before the payload of a Twrite: size[4] type[1] tag[2] fid[4] offset[8] count[4].
    public static let writeHeaderSize: UInt32 = 23

    /// The largest payload an Rread or Rreaddir can carry with this msize (msize − 11, or 0
    /// for an msize below 11). Servers clamp Tread/Treaddir counts to this instead of refusing them.
    public static func maxIOCount(msize: UInt32) -> UInt32 {
        msize > readHeaderSize ? msize - readHeaderSize : 0
    }

    /// The largest payload a Twrite may carry with this msize (msize − 23, or 0 for an msize below 23).
    public static func maxWriteCount(msize: UInt32) -> UInt32 {
        msize > writeHeaderSize ? msize - writeHeaderSize : 0
    }
}
