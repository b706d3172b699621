import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { LeadRepository } from '@app/leads';
import { adapterFor, NativeLeadMapper, previewSource, SourcePreview, SourceRegistry, sourcesConfig } from '@app/sources';
import { withRedisTimeout } from '../common/redis-timeout';
import { hookUrl, nativeRequestOf, ReceivedRequest } from '../hooks/hook-request';
import { unknownSource } from '../hooks/hook-intake.service';
import { LeadIntakeService } from '../leads/lead-intake.service';
import { auditAction, OpsAudit } from '../ops/ops-audit';
import { SourcesListDto } from './source-views.dto';

/** The ops view of the sources: what to give each platform, and how many leads each had. */
@Injectable()
export class SourcesService {
  private readonly logger = new Logger(SourcesService.name);
  private readonly publicBaseUrl: string | null;

  constructor(
    private readonly registry: SourceRegistry,
    private readonly leads: LeadRepository,
    private readonly intake: LeadIntakeService,
    @Inject(sourcesConfig.KEY) { publicBaseUrl }: ConfigType<typeof sourcesConfig>,
    private readonly mapper: NativeLeadMapper,
    private readonly audit: OpsAudit,
  ) {
    this.publicBaseUrl = publicBaseUrl;
  }

  /** Every source, with its hook URL under PUBLIC_BASE_URL (else `origin`, where the caller reached us). */
  async list(origin: string): Promise<SourcesListDto> {
    const counts = await withRedisTimeout(this.leads.sourceCounts());
    return {
      sources: this.registry.all().map((source) => ({
        name: source.name,
        type: source.type,
        declared_in: source.declaredIn,
        url: hookUrl(this.publicBaseUrl ?? origin, source.name),
        auth: adapterFor(source.type).authMode(source),
        distribution_id: this.intake.distributionFor(source.distributionId),
        mapping: source.mapping ? 'custom' : 'default',
        leads: counts.get(source.name) ?? { accepted: 0, delivered: 0, failed: 0 },
      })),
    };
  }

  /**
   * What a payload would produce for this source, with every problem; enqueues nothing. The
   * answer holds the prospect's data (mapped, maybe fetched): audited with counts only.
   */
  async preview(name: string, request: ReceivedRequest, by: string): Promise<SourcePreview> {
    if (!this.registry.get(name)) throw unknownSource(name);
    const preview = await previewSource(this.registry, this.mapper, name, nativeRequestOf(request, this.publicBaseUrl));
    await auditAction(this.audit, this.logger, {
      user: by,
      action: 'mapping_previewed',
      detail: { source: name, leads: preview.leads.length, ignored: preview.ignored.length, problems: preview.problems.length + preview.leads.reduce((sum, lead) => sum + lead.problems.length, 0) },
    });
    return preview;
  }
}
