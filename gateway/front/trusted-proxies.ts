import { BlockList, isIP } from 'node:net';

/**
 * Which peers may speak for the client with X-Forwarded-For / X-Forwarded-Proto: by default
 * loopback and unix sockets (nginx on the same box). Anyone else could forge them.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly trustUnix: boolean;

  constructor(specs: readonly string[]) {
    this.trustUnix = specs.includes('unix');
    for (const spec of specs) {
      if (spec === 'unix') continue;
      const [addr, bits] = spec.split('/');
      const family = isIP(addr ?? '') === 6 ? 'ipv6' : 'ipv4';
      if (bits !== undefined) this.list.addSubnet(addr!, Number(bits), family);
      else this.list.addAddress(addr!, family);
    }
  }

  trusts(remoteAddress: string | undefined): boolean {
    if (remoteAddress === undefined || remoteAddress === '') return this.trustUnix;
    const v4mapped = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : undefined;
    if (v4mapped && isIP(v4mapped) === 4) return this.list.check(v4mapped, 'ipv4');
    return this.list.check(remoteAddress, isIP(remoteAddress) === 6 ? 'ipv6' : 'ipv4');
  }
}
