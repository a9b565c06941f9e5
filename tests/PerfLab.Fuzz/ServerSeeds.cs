using PerfLab.Vhost.Protocol;

namespace PerfLab.Fuzz;

/// <summary>Builds <see cref="ServerTarget"/> inputs (see its format).</summary>
public sealed class ServerInput
{
    private readonly FuzzOutput _o = new();

    public ServerInput Connect() => Op(0);

    public ServerInput Raw(int conn, params byte[] bytes)
    {
        Op(1).U8(conn).U8(bytes.Length).Raw(bytes);
        return this;
    }

    public ServerInput Message(int conn, VhostUserRequest r, VhostUserFlags flags = 0, params byte[] payload)
    {
        Op(2).U8(conn).U8((int)r).U8((int)flags).U8(payload.Length).Raw(payload);
        return this;
    }

    public ServerInput Close(int conn)
    {
        Op(3).U8(conn);
        return this;
    }

    public ServerInput ShutWrite(int conn)
    {
        Op(4).U8(conn);
        return this;
    }

    public ServerInput Pause(int ms) => Op(5 | (Math.Min(ms, 31) << 3));

    public ServerInput Read(int conn)
    {
        Op(6).U8(conn);
        return this;
    }

    public ServerInput CloseAllAndWait() => Op(7);

    private ServerInput Op(int code)
    {
        _o.U8(code);
        return this;
    }

    private FuzzOutput U8(int v) => _o.U8(v);

    public byte[] ToArray() => _o.ToArray();
}

public static class ServerSeeds
{
    private const VhostUserFlags NeedReply = VhostUserFlags.NeedReply;

    /// <summary>A header claiming <paramref name="size"/> payload bytes.</summary>
    private static byte[] Header(VhostUserRequest r, uint size)
    {
        var b = new byte[VhostUserHeader.Size];
        BitConverter.TryWriteBytes(b.AsSpan(0), (uint)r);
        BitConverter.TryWriteBytes(b.AsSpan(4), (uint)VhostUserFlags.Version1);
        BitConverter.TryWriteBytes(b.AsSpan(8), size);
        return b;
    }

    public static IEnumerable<(string Name, byte[] Input)> All()
    {
        yield return ("handshake-then-close", new ServerInput().Connect()
            .Message(0, VhostUserRequest.GetFeatures).Message(0, VhostUserRequest.GetProtocolFeatures)
            .Message(0, VhostUserRequest.SetOwner).Read(0).Close(0).ToArray());
        yield return ("partial-header-then-silence", new ServerInput().Connect()
            .Raw(0, Header(VhostUserRequest.GetFeatures, 0)[..5]).Pause(31).Read(0).CloseAllAndWait().ToArray());
        yield return ("partial-payload-then-half-close", new ServerInput().Connect()
            .Raw(0, [.. Header(VhostUserRequest.SetFeatures, 8), 1, 2, 3]).ShutWrite(0).Read(0).CloseAllAndWait().ToArray());
        yield return ("silent-first-then-a-second-client", new ServerInput().Connect().Connect()
            .Message(1, VhostUserRequest.GetFeatures).Pause(31).Pause(10).Read(1).Read(0).CloseAllAndWait().ToArray());
        yield return ("four-clients-closed-in-reverse", new ServerInput().Connect().Connect().Connect().Connect()
            .Message(0, VhostUserRequest.SetOwner).Message(1, VhostUserRequest.GetFeatures)
            .Message(2, VhostUserRequest.GetQueueNum, NeedReply).Message(3, VhostUserRequest.GetFeatures)
            .Close(3).Close(2).Close(1).Read(0).Close(0).ToArray());
        yield return ("close-then-reconnect-at-once", new ServerInput().Connect()
            .Message(0, VhostUserRequest.GetFeatures).Read(0).Close(0).Connect()
            .Message(0, VhostUserRequest.GetFeatures).Read(0).CloseAllAndWait().ToArray());
        yield return ("replies-never-read", new ServerInput().Connect()
            .Message(0, VhostUserRequest.GetFeatures).Message(0, VhostUserRequest.GetFeatures).Message(0, VhostUserRequest.GetFeatures)
            .Message(0, VhostUserRequest.GetProtocolFeatures).Pause(5).CloseAllAndWait().ToArray());
    }
}
